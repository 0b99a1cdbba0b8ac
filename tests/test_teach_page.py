"""The Retrain page's "Teach the room's handwriting" section under AppTest: the counts, the
rooms that cannot be taught, a teach job from Start to both new versions in use."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnist_models.nets import registry
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store
from mnist_models.training import jobs, teach

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "retrain.py")
STROKES = "[[[10,10],[60,80]]]"
ANSWERS = {"mlp": rules.Answer(tuple([0.1] * 10), "shipped/mlp")}


@pytest.fixture()
def home(app_home, monkeypatch, presenter):
    """A private app home and room store, a fresh job manager, short teach runs."""
    manager = jobs.JobManager()
    monkeypatch.setattr(jobs, "MANAGER", manager)
    monkeypatch.setattr(teach, "SUBSET", 200)
    monkeypatch.setattr(teach, "EPOCHS", 1)
    yield app_home, presenter
    manager.cancel()
    manager.wait(timeout=60)


def room(test_split, people: int, per_person: int, label=None) -> str:
    """A room in the app's store: people draw MNIST test digits, labelled (label(true))."""
    store = room_store.shared_store(room_store.store_url())
    code = store.create_room("Lecture").code
    ds = []
    for i in range(people * per_person):
        true = int(test_split.labels[9000 + i])
        ds.append(
            rules.Drawing(
                0,
                code,
                time.time(),
                f"p{i % people}",
                None,
                STROKES,
                test_split.images[9000 + i].numpy().tobytes(),
                label(true) if label else true,
                ANSWERS,
            )
        )
    store.import_drawings(code, ds)
    return code


def page(unlock, visitor: bool = False) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if not visitor:
        unlock(at)
    at.run()
    assert not at.exception, at.exception
    return at


def shown(element) -> str:
    """Markdown as a browser shows it (texts are escaped for markdown)."""
    return str(element.value).replace("\\", "").replace("\u2060", "")


def button(at: AppTest, key: str):
    return at.button(key=key)


@pytest.mark.slow  # starts a training process
def test_the_section_shows_the_counts_and_starts_a_job_that_is_put_in_use(home, test_split) -> None:
    _, unlock = home
    code = room(test_split, 8, 12)
    at = page(unlock)
    assert any(s.value == "Teach the room's handwriting" for s in at.subheader)
    counts = at.table[-1].value
    assert list(counts.index) == ["to learn from", "held out"]
    assert int(counts.loc["to learn from"].sum()) + int(counts.loc["held out"].sum()) == 96
    split = "split by person: 6 people teach, 2 others are held out"
    assert any(split in shown(c) for c in at.caption)
    start = button(at, "teach-start")
    assert start.disabled is False
    start.click().run()
    assert not at.exception, at.exception
    status = jobs.MANAGER.wait(timeout=600)
    assert status.state == "done", status.error
    assert [r.room for r in status.runs] == [code, code]
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    for name in ("MLP", "ConvNet"):
        held = next(k for k in metrics if k.startswith(f"{name} on the room's held-out people"))
        t = next(r.taught for r in status.runs if r.model == ("mlp" if name == "MLP" else "cnn"))
        assert metrics[held] == f"{t['held_after']:.1%}"
        assert metrics[f"{name} on MNIST test (10,000 images)"] == f"{t['test_after']:.2%}"
    assert any("no not-a-digit check" in shown(c) for c in at.caption)
    shipped = {a: registry.active_id(a) for a in ("mlp", "cnn")}
    button(at, "teach-use").click().run()
    assert not at.exception, at.exception
    for run in status.runs:
        assert registry.active_id(run.model) == run.version_id != shipped[run.model]
    assert button(at, "teach-use").disabled is True
    assert (registry.SHIPPED_DIR / "cnn.pt").is_file()  # shipped weights kept, switchable back
    registry.set_active("cnn", shipped["cnn"])
    assert registry.active_id("cnn") == "shipped/cnn"


def test_rooms_that_cannot_be_taught_get_a_sentence_and_no_start(home, test_split) -> None:
    _, unlock = home
    room(test_split, 3, 4, label=lambda d: 7)
    at = page(unlock)
    assert any("Every labelled drawing" in shown(w) and "is a 7" in shown(w) for w in at.warning)
    assert not [b for b in at.button if b.key == "teach-start"]


def test_few_drawings_of_a_digit_are_warned_and_visitors_cannot_start(home, test_split) -> None:
    _, unlock = home
    room(test_split, 6, 3)
    at = page(unlock, visitor=True)
    assert any(shown(w).startswith("Few drawings to learn from for") for w in at.warning)
    assert button(at, "teach-start").disabled is True


def test_the_wall_shows_the_last_teach_job_of_its_room_only(monkeypatch) -> None:
    from app_pages import room_teach

    taught = {
        "held_before": 0.8,
        "held_after": 0.95,
        "test_before": 0.9937,
        "test_after": 0.9921,
        "fixed": [4, 5, 6],
        "broken": [7],
        "held_out": 40,
    }
    runs = [
        jobs.RunStatus("mlp", {}, "MLP taught room ABCDEF", taught=taught, room="ABCDEF"),
        jobs.RunStatus("cnn", {}, "ConvNet taught room ABCDEF", taught=taught, room="ABCDEF"),
    ]
    done = jobs.JobStatus(state=jobs.JobState.DONE, runs=runs)
    monkeypatch.setattr(jobs, "status", lambda: done)
    out = room_teach.result_html("ABCDEF")
    assert "checked on 40 drawings by people held out" in out
    assert out.count("people it did not learn from 80% → <b>95%</b> (3 fixed, 1 broken)") == 2
    assert "MNIST 99.4% → 99.2%" in out
    assert room_teach.result_html("GHJKLM") == ""  # another room's job
    running = jobs.JobStatus(state=jobs.JobState.RUNNING, runs=runs)
    monkeypatch.setattr(jobs, "status", lambda: running)
    assert room_teach.result_html("ABCDEF") == ""  # not until it has finished
