"""The retraining page under AppTest: validation, presets, start, cancel, keep, discard."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest
from helpers import third_network, trained_third
from streamlit.testing.v1 import AppTest

from app_pages import charts, retrain_run
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.training import estimates, jobs
from mnist_models.training.train import TrainConfig

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "retrain.py")


@pytest.fixture()
def home(app_home, monkeypatch, presenter) -> Path:
    """A private app home, a fresh process-wide job manager and the presenter's gate."""
    manager = jobs.JobManager()
    monkeypatch.setattr(jobs, "MANAGER", manager)
    global unlock
    unlock = presenter
    yield app_home
    manager.cancel()
    manager.wait(timeout=60)


unlock = None  # set by the home fixture: gives a session the presenter's rights


def page(visitor: bool = False) -> AppTest:
    """The page in a new session: the presenter's unless visitor."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    if not visitor:
        unlock(at)
    at.run()
    assert not at.exception
    return at


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; have {[b.label for b in at.button]}"
    return found[0]


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def shown(element) -> str:
    """Markdown as a browser shows it (names and titles are escaped for markdown)."""
    return str(element.value).replace("\\", "").replace("\u2060", "")


def fill(at: AppTest, network: str = "MLP", subset: int = 300, epochs: int = 1) -> AppTest:
    at.radio(key="network").set_value(network)
    at.number_input(key="subset").set_value(subset)
    at.number_input(key="epochs").set_value(epochs)
    return at.run()


def test_page_shows_estimate_active_models_and_all_versions(home):
    at = page()
    assert any("Estimated duration on this machine: about" in t for t in texts(at.info))
    active = shown(at.markdown[0])
    assert active.startswith("**Active now:** MLP (60,000 images, augmented as drawn), 99.37% on")
    assert "ConvNet (60,000 images, augmented as drawn), 99.50% on test" in active
    assert "MLP: MLP" not in active and "· 60,000 images" not in active  # the name once
    df = at.dataframe[0].value
    assert {"shipped/mlp", "shipped/cnn"} <= set(df["version"])
    status = dict(zip(df["version"], df["status"]))
    assert status["shipped/mlp"] == status["shipped/cnn"] == "active"  # the defaults
    assert button(at, "Start training").disabled is False


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("subset", 0, "Training images must be a whole number from 1 to 60,000, not 0."),
        ("subset", 60_001, "Training images must be a whole number from 1 to 60,000, not 60,001."),
        ("epochs", 0, "Epochs must be a whole number from 1 to 1,000, not 0."),
        ("epochs", 5_000, "Epochs must be a whole number from 1 to 1,000, not 5,000."),
        ("seed", -1, "The seed must be a whole number from 0 to 4,294,967,295, not -1."),
        (
            "seed",
            2**32,
            "The seed must be a whole number from 0 to 4,294,967,295, not 4,294,967,296.",
        ),
    ],
)
def test_out_of_range_values_are_refused_and_nothing_starts(home, field, value, message):
    at = page()
    at.number_input(key=field).set_value(value).run()
    assert message in texts(at.error)
    assert not any("Estimated duration" in t for t in texts(at.info))
    button(at, "Start training").click().run()
    assert not at.exception
    assert any(t.startswith("Nothing was started: ") and message in t for t in texts(at.error))
    assert jobs.status().state == "idle"
    assert not registry.versions_dir().exists()


def test_presets_fill_the_form(home):
    at = page()
    blog = next(o for o in at.selectbox(key="preset").options if o.startswith("The blog's"))
    at.selectbox(key="preset").set_value(blog).run()
    assert at.radio(key="network").value == "ConvNet"
    assert at.number_input(key="subset").value == 1_000
    assert at.radio(key="selection").value.startswith("The first N")
    assert at.number_input(key="epochs").value == 100
    assert at.radio(key="augment").value.startswith("Jitter")
    vs = next(o for o in at.selectbox(key="preset").options if o.startswith("MLP vs ConvNet"))
    at.selectbox(key="preset").set_value(vs).run()
    assert at.radio(key="network").value == "Both, one after the other"
    assert any("the MLP first, then the ConvNet" in t for t in texts(at.info))
    at.number_input(key="epochs").set_value(3).run()  # a hand edit leaves the preset
    assert at.selectbox(key="preset").value == "Custom"


@pytest.mark.slow  # starts a training process
def test_a_valid_start_trains_and_the_result_can_be_kept(home):
    at = fill(page(), "MLP", 300, 1)
    button(at, "Start training").click().run()
    assert not at.exception
    assert jobs.status().state in ("running", "done")
    status = jobs.wait(timeout=120)
    assert status.state == "done", status.error
    # The curves' legend names the networks this job trained, not every network.
    loss, accuracy = charts.training_curves(status.runs)
    assert loss["encoding"]["color"]["scale"]["domain"] == ["MLP"]
    assert accuracy["encoding"]["color"]["scale"]["range"] == [networks.get("mlp").colour]
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    acc = metrics["MLP test accuracy (10,000 images)"]
    assert acc == f"{status.runs[0].test_accuracy:.2%}"
    assert any(label.startswith("Active MLP") for label in metrics)
    assert "Training time" in metrics
    assert len(at.table) == 1  # per-digit accuracy, this model next to the active one
    vid = status.runs[0].version_id
    assert vid in set(at.dataframe[0].value["version"])
    button(at, "Use this model").click().run()
    assert not at.exception
    assert registry.active_id("mlp") == vid
    assert any("is now" in t for t in texts(at.success))
    # Make the shipped model active again from the list of versions.
    at.selectbox(key="version_choice").set_value("shipped/mlp").run()
    button(at, "Make active").click().run()
    assert registry.active_id("mlp") == "shipped/mlp"


@pytest.mark.slow  # starts a training process
def test_a_result_can_be_discarded(home):
    at = fill(page(), "MLP", 200, 1)
    drawn = next(o for o in at.radio(key="augment").options if o.startswith("As drawn"))
    at.radio(key="augment").set_value(drawn).run()
    button(at, "Start training").click().run()
    status = jobs.wait(timeout=120)
    assert status.runs[0].config["augment"] and status.runs[0].config["augment_style"] == "drawn"
    assert list((home / "cache").glob("redrawn-*.npz"))  # the 200 digits, redrawn
    vid = status.runs[0].version_id
    at.run()
    at.button(key=f"discard-{vid}-confirm").click().run()
    assert not at.exception
    with pytest.raises(KeyError):
        registry.get_version(vid)
    assert registry.active_id("mlp") == "shipped/mlp"
    button(at, "Dismiss").click().run()
    assert jobs.status().state == "idle"


@pytest.mark.slow  # starts a training process
def test_a_running_job_is_shown_and_can_be_cancelled(home):
    jobs.start(TrainConfig(model="cnn", subset=20_000, epochs=5))  # as if from another browser
    deadline = time.monotonic() + 60
    while (jobs.status().current_run.batches_done < 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    at = page()
    assert button(at, "Start training").disabled
    assert len(at.get("progress")) == 1
    assert "ConvNet: epoch 1 of 5" in at.get("progress")[0].proto.text
    button(at, "Cancel training").click().run()
    assert not at.exception
    status = jobs.wait(timeout=30)
    assert status.state == "cancelled"
    at.run()
    assert any("Cancelled after" in t for t in texts(at.info))
    assert not registry.versions_dir().exists() or not any(registry.versions_dir().iterdir())


def test_broken_versions_are_marked_and_cannot_be_activated(home):
    folder = registry.versions_dir()
    folder.mkdir(parents=True)
    src = registry.get_version("shipped/cnn")
    (folder / "broken-cnn.pt").write_bytes(b"not a checkpoint")
    checkpoint.meta_path(folder / "broken-cnn.pt").write_bytes(
        checkpoint.meta_path(src.path).read_bytes()
    )
    at = page()
    df = at.dataframe[0].value
    row = df[df.version == "trained/broken-cnn"]
    assert row["status"].iloc[0].startswith("broken: ")
    at.selectbox(key="version_choice").set_value("trained/broken-cnn").run()
    assert any("is broken and cannot be made active" in t for t in texts(at.warning))
    assert button(at, "Make active").disabled  # AppTest, like a browser, cannot click it
    assert registry.active_id("cnn") == "shipped/cnn"
    at.button(key="delete-trained/broken-cnn-confirm").click().run()
    assert not at.exception
    assert not (folder / "broken-cnn.pt").exists()


def test_a_run_lost_in_a_restart_is_shown_and_can_be_dismissed(home):
    import json
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = {
        "id": "abc123",
        "state": "running",
        "owner_pid": int(gone.stdout),
        "started": 0,
        "started_by": "Ada",
        "error": None,
        "configs": [
            {"model": "cnn", "subset": 1000, "first": True, "epochs": 100, "augment": True}
        ],
    }
    (home / "jobs.json").write_text(json.dumps(record))
    at = page()
    shown = texts(at.warning)
    assert any(
        "lost when the server stopped" in t and "ConvNet (1,000 first images" in t for t in shown
    ), shown
    assert button(at, "Start training").disabled is False
    button(at, "Dismiss").click()
    at.run()
    assert not any("lost" in t for t in texts(at.warning))
    assert not (home / "jobs.json").exists()


def test_a_visitor_sees_the_run_and_the_versions_but_cannot_change_them(home):
    """Everyone sees what is running and who started it; only the presenter acts."""
    folder = registry.versions_dir()
    folder.mkdir(parents=True)
    for ext in (".pt", ".json"):
        (folder / f"copy{ext}").write_bytes((registry.SHIPPED_DIR / f"cnn{ext}").read_bytes())
    at = page(visitor=True)
    assert any("only the presenter can start" in t for t in texts(at.info))
    assert button(at, "Start training").disabled
    at.selectbox(key="version_choice").set_value("trained/copy").run()
    assert button(at, "Make active").disabled
    assert not any(b.label == "Dismiss" for b in at.button)
    assert registry.active_id("cnn") == "shipped/cnn"
    assert (folder / "copy.pt").exists()


@pytest.mark.slow  # starts a training process
def test_a_visitor_sees_who_started_a_run_and_cannot_cancel_it(home):
    jobs.start(TrainConfig(model="cnn", subset=20_000, epochs=5), started_by="Ada")
    deadline = time.monotonic() + 60
    while (jobs.status().current_run.batches_done < 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    at = page(visitor=True)
    # Names and titles are escaped for markdown: read them as a browser shows them.
    captions = [str(c.value).replace("\\", "").replace("\u2060", "") for c in at.caption]
    assert any("Started by Ada." in c for c in captions), captions
    assert any("started by Ada: ConvNet epoch 1/5, should end about" in c for c in captions)
    assert not any(b.label == "Cancel training" for b in at.button)
    assert jobs.status().state == "running"


@pytest.fixture()
def third(home):
    """A third network in the table, with nothing trained of it yet."""
    with third_network() as net:
        yield net


def test_a_third_network_in_the_table_is_offered_with_nothing_trained_yet(third):
    at = page()
    networks = at.radio(key="network")
    assert networks.options == ["MLP", "ConvNet", "Linear", "All three, one after the other"]
    assert "Linear: no model yet" in shown(at.markdown[0])  # no shipped model, none trained
    assert any("Train the MLP, the ConvNet, the Linear or all of" in shown(c) for c in at.caption)
    # The blog's presets for "both" name the MLP and the ConvNet: no choice trains just those.
    presets = at.selectbox(key="preset").options
    assert any(o.startswith("The blog's experiment") for o in presets)
    assert not any(o.startswith("MLP vs ConvNet") for o in presets)
    fill(at, "Linear", 300, 1)
    assert not at.exception and not at.error
    assert any("Estimated duration on this machine: about" in t for t in texts(at.info))
    networks.set_value("All three, one after the other").run()
    assert any("the MLP first, then the ConvNet, then the Linear." in t for t in texts(at.info)), (
        texts(at.info)
    )


def test_a_trained_third_network_is_listed_and_shown_in_use(third):
    vid = trained_third()
    at = page()
    assert "· Linear (5,000 first images, 3 epochs), " in shown(at.markdown[0])  # named once
    df = at.dataframe[0].value
    row = df[df.version == vid]
    assert list(row["network"]) == ["Linear"] and list(row["status"]) == ["active"]


def estimate_shown(at: AppTest) -> str:
    found = [t for t in texts(at.info) if t.startswith("Estimated duration on this machine")]
    assert len(found) == 1, texts(at.info)
    return found[0]


def test_the_estimate_follows_this_machines_measured_speed(home, monkeypatch):
    manager = jobs.MANAGER
    monkeypatch.setattr(manager, "prepare", lambda: None)  # no real calibration racing ours
    monkeypatch.setattr(manager, "calibrating", lambda: True)
    at = fill(page(), "ConvNet", 1_000, 10)
    first = estimate_shown(at)
    assert "from Start to the result shown here" in first
    assert "Measuring this machine's training speed…" in first
    # The waiting process has timed this machine: ten images a second.
    threads = jobs.training_threads()
    slow = {"cnn/none": 10.0}
    manager.estimator.calibrate(estimates.Calibration(threads, slow, {"cnn": 1_000.0}))
    monkeypatch.setattr(manager, "calibrating", lambda: False)
    at.run()
    measured = estimate_shown(at)
    assert "Measuring" not in measured
    # 10,000 images at 10 a second (times the factor for a run from the page), and the rest.
    training = 10_000 / (10 * estimates.calibration_factor("cnn"))
    m = re.search(r"about (\d+) min (\d+) s", measured)
    assert m, measured
    assert training <= 60 * int(m[1]) + int(m[2]) <= training + 60, measured
    assert measured != first


def running(eta: float, state: str = "training") -> jobs.JobStatus:
    """A job in progress, as jobs.status() reports it."""
    cfg = TrainConfig(model="cnn", subset=1_000, epochs=10).resolved()
    run = jobs.RunStatus("cnn", dataclasses.asdict(cfg), jobs.title(cfg), epochs=10)
    run.state, run.epoch, run.batch, run.batches = state, 5, 3, 8
    return jobs.JobStatus(
        state=jobs.JobState.RUNNING,
        id="job1",
        runs=[run],
        current=0,
        started=time.time() - 30,
        elapsed=30.0,
        eta=eta,
        expected_end=time.time() + eta,
        estimate=60.0,
    )


@pytest.mark.parametrize("elsewhere", [False, True])
def test_a_finished_job_shows_its_end_once_and_says_where_it_ran(home, monkeypatch, elsewhere):
    done = dataclasses.replace(
        running(1.0), state=jobs.JobState.DONE, eta=None, current=None, elsewhere=elsewhere
    )
    monkeypatch.setattr(jobs, "status", lambda: done)
    at = page(visitor=True)
    assert texts(at.success) == ["Finished in 30 s."] and not at.error and not at.warning
    other = [shown(c) for c in at.caption if "another server" in shown(c)]
    assert other == (
        ["Run by another server of this app (or by this one before a restart)."]
        if elsewhere
        else []
    )


def test_the_progress_caption_follows_the_run(home, monkeypatch):
    now = [running(95.0)]
    monkeypatch.setattr(jobs, "status", lambda: now[0])
    at = page()
    text = at.get("progress")[0].proto.text
    assert "ConvNet: epoch 5 of 10, batch 3 of 8 · 30 s elapsed · about 1 min 35 s left" in text
    note = [shown(c) for c in at.caption if "in progress" in shown(c)]
    assert len(note) == 1 and "ConvNet epoch 5/10, should end about" in note[0], note
    now[0] = running(40.0)
    at.run()
    assert "about 40 s left" in at.get("progress")[0].proto.text


def test_a_job_about_to_end_is_shown_done_as_soon_as_it_ends(home, monkeypatch):
    calls = {"n": 0, "ends_at": 6}
    done = dataclasses.replace(running(1.0), state=jobs.JobState.DONE, eta=None, current=None)

    def status(eta: float, state: str = "evaluating"):
        calls["n"] += 1
        return running(eta, state) if calls["n"] < calls["ends_at"] else done

    # The same looks in less time (a wait that never ends costs END_WAIT, twice below).
    monkeypatch.setattr(retrain_run, "END_WAIT", 0.4)
    monkeypatch.setattr(retrain_run, "END_LOOK", 0.02)
    # About to end: the refresh waits for it, looking again and again, and then the
    # page shows it finished in the same refresh.
    monkeypatch.setattr(jobs, "status", lambda: status(1.0))
    at = page()
    assert not at.exception
    assert any(t.startswith("Finished in") for t in texts(at.success)), texts(at.success)
    assert not at.error, texts(at.error)
    # Not about to end: no wait, no extra looks.
    calls.update(n=0, ends_at=10**9)
    monkeypatch.setattr(jobs, "status", lambda: status(60.0, "training"))
    page()
    far = calls["n"]
    # About to end but it does not: it looks until its wait is up, then shows the progress;
    # so does a job in its last evaluation, however long that is estimated to take.
    for eta, state in [(1.0, "training"), (60.0, "evaluating")]:
        calls["n"] = 0
        monkeypatch.setattr(jobs, "status", lambda eta=eta, state=state: status(eta, state))
        at = page()
        assert at.get("progress") and calls["n"] > far + 5, (eta, state)
