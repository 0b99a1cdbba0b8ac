"""Teaching networks a room's handwriting: the mix, the before and after, the command line
(`train --room` / `--extra`) and its bad input. Runs are short (a few hundred images)."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

from mnist_models import cli
from mnist_models.nets import checkpoint, registry
from mnist_models.rooms import exchange, rules
from mnist_models.rooms.store import open_store
from mnist_models.training import roomdata, teach

STROKES = "[[[10,10],[60,80]]]"
ANSWERS = {"mlp": rules.Answer(tuple([0.1] * 10), "shipped/mlp")}
SHORT = ["--subset", "200", "--epochs", "1"]


def slanted(img: np.ndarray) -> np.ndarray:
    """A strong shear: a room style the shipped networks read less well."""
    out = np.zeros_like(img)
    for r in range(28):
        shift = (14 - r) // 2
        out[r] = np.roll(img[r], shift)
    return out


def make_room(tmp_path, test_split, people=8, per_person=20, labels=None, style=None):
    """A room in a fresh SQLite store: `people` people draw `per_person` MNIST test digits,
    labelled (labels: a function of the true digit, None for no label)."""
    store = open_store(tmp_path / "rooms.sqlite3")
    code = store.create_room("Teach").code
    drawings = []
    for i in range(people * per_person):
        img = test_split.images[9000 + i].numpy()
        img = style(img) if style else img
        true = int(test_split.labels[9000 + i])
        label = labels(true) if labels else true
        drawings.append(
            rules.Drawing(
                0, code, time.time(), f"p{i % people}", None, STROKES, img.tobytes(), label, ANSWERS
            )
        )
    store.import_drawings(code, drawings)
    return store, code


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_mix_sets_how_often_room_drawings_come_back() -> None:
    assert teach.oversample_for(3000, 100, 0.5) == 30
    assert teach.mix_used(3000, 100, 30) == pytest.approx(0.5)
    assert teach.oversample_for(3000, 1000, 0.25) == 1
    assert teach.oversample_for(60_000, 10, 0.9) == 100  # capped by the settings
    for bad in (0.0, 1.0, -0.2, float("nan"), True):
        with pytest.raises(ValueError, match="mix"):
            teach.check_mix(bad)


def test_teach_measures_before_and_after_and_what_changed(
    tmp_path, train_split, test_split
) -> None:
    store, code = make_room(tmp_path, test_split, style=slanted)
    data = roomdata.from_drawings(store.drawings(code, include_hidden=True), f"room {code}")
    start = registry.get_version("shipped/mlp").path
    cfg = teach.config("mlp", start, subset=300, epochs=2, threads=1)
    assert cfg.label_smoothing == checkpoint.read_metadata(start)["train_config"]["label_smoothing"]
    t = teach.teach(data, start, cfg, 0.5, train_split=train_split, test_split=test_split)
    model, meta = checkpoint.load(start)
    labels = data.held_labels
    before = teach.predictions(model, "mlp", data.held_images)
    after = teach.predictions(t.fitted.model, "mlp", data.held_images)
    assert t.held_before == pytest.approx(float((before == labels).float().mean()))
    assert t.held_after == pytest.approx(float((after == labels).float().mean()))
    fixed = [i for i, b, a, y in zip(data.held_ids, before, after, labels) if a == y != b]
    broken = [i for i, b, a, y in zip(data.held_ids, before, after, labels) if b == y != a]
    assert (t.fixed, t.broken) == (fixed, broken)
    assert t.held_after - t.held_before == pytest.approx((len(fixed) - len(broken)) / len(labels))
    assert t.test_before == pytest.approx(meta["test_accuracy"], abs=1e-4)
    assert 0.9 < t.test_after <= 1.0
    assert t.oversample == teach.oversample_for(300, len(data.train_ids), 0.5)
    taught = t.fitted.metadata["taught"]
    assert taught["room"]["train"] == len(data.train_ids)
    assert taught["started_from"]["sha256"] == meta["sha256"]
    assert t.fitted.metadata["started_from"]["sha256"] == meta["sha256"]
    assert "command" not in t.fitted.metadata  # a plain train would not reproduce it


def test_teach_refuses_a_checkpoint_of_the_other_network(tmp_path, test_split) -> None:
    store, code = make_room(tmp_path, test_split, people=6, per_person=5)
    data = roomdata.from_drawings(store.drawings(code), f"room {code}")
    with pytest.raises(ValueError, match="MLP weights, not ConvNet"):
        teach.teach(data, registry.get_version("shipped/mlp").path, teach.config("cnn"))


@pytest.mark.slow  # trains both networks through the command line (about 12 s)
def test_the_command_teaches_both_networks_from_the_store(
    tmp_path, app_home, capsys, test_split
) -> None:
    store, code = make_room(tmp_path, test_split)
    shipped = {p: sha(p) for p in registry.SHIPPED_DIR.iterdir()}
    out = tmp_path / "taught.pt"
    code_, text, err = run_cli(
        capsys,
        "train",
        "--model",
        "both",
        "--room",
        code.lower(),
        "--store",
        str(tmp_path / "rooms.sqlite3"),
        "--out",
        str(out),
        *SHORT,
    )
    assert code_ == 0, err
    assert "split by person: 6 people teach, 2 others are held out" in text
    for name, arch in (("MLP", "mlp"), ("ConvNet", "cnn")):
        line = next(x for x in text.splitlines() if x.startswith(f"{name} (from shipped/{arch})"))
        assert "held-out people" in line and "MNIST test" in line and "fixed" in line
        meta = checkpoint.read_metadata(tmp_path / f"taught-{arch}.pt")
        assert meta["architecture"] == arch
        assert meta["taught"]["room"]["source"] == f"room {code}"
        checkpoint.load(tmp_path / f"taught-{arch}.pt")  # weights and metadata agree
    assert "From start to models ready:" in text
    assert teach_cli_no_detector() in text
    assert {p: sha(p) for p in registry.SHIPPED_DIR.iterdir()} == shipped


def teach_cli_no_detector() -> str:
    from mnist_models.cli import teach as teach_cli

    return teach_cli.NO_DETECTOR


@pytest.mark.slow  # trains through the command line (about 11 s)
def test_the_command_teaches_from_an_exported_room_and_a_chosen_start(
    tmp_path, app_home, capsys, test_split
) -> None:
    store, code = make_room(tmp_path, test_split, people=3, per_person=10)
    export = tmp_path / "room.zip"
    export.write_bytes(exchange.export_room(store, code))
    code_, text, err = run_cli(
        capsys,
        "train",
        "--model",
        "cnn",
        "--extra",
        str(export),
        "--from",
        "shipped/cnn",
        "--mix",
        "0.5",
        "--json",
        *SHORT,
    )
    assert code_ == 0, err
    summary = json.loads(text)
    assert summary["room"]["by_person"] is False  # 3 people: split by drawing
    (net,) = summary["networks"]
    assert net["model"] == "cnn"
    assert net["started_from"]["title"] == checkpoint.read_metadata(
        registry.get_version("shipped/cnn").path
    ).get("title", "")
    assert 0.4 < net["mix"] < 0.6
    assert summary["detectors"] is None


@pytest.mark.parametrize(
    "how, words",
    [
        ("unlabelled", ["no labelled drawings"]),
        ("one digit", ["Every labelled drawing", "is a 3", "two different digits"]),
        ("unknown room", ["--room"]),
        ("bad mix", ["--mix", "from 0.01 to 0.9"]),
        ("wrong start", ["--from", "is a mlp model"]),
        ("unknown start", ["--from", "no such version"]),
        ("no room", ["--model both", "--room or --extra"]),
        ("from without room", ["--from is for teaching a room"]),
        ("ood without out", ["--ood", "--out"]),
        ("not a zip", ["not a readable room export"]),
    ],
)
def test_bad_input_gets_one_line(tmp_path, app_home, capsys, test_split, how, words) -> None:
    labels = {"unlabelled": lambda d: None, "one digit": lambda d: 3}.get(how)
    store, code = make_room(tmp_path, test_split, people=2, per_person=5, labels=labels)
    room = ["--room", "ZZZZZZ" if how == "unknown room" else code]
    room += ["--store", str(tmp_path / "rooms.sqlite3")]
    args = {
        "bad mix": ["--model", "mlp", *room, "--mix", "1.5"],
        "wrong start": ["--model", "cnn", *room, "--from", "shipped/mlp"],
        "unknown start": ["--model", "cnn", *room, "--from", "trained/nothing"],
        "no room": ["--model", "both"],
        "from without room": ["--model", "mlp", "--from", "shipped/mlp"],
        "ood without out": ["--model", "mlp", *room, "--ood"],
    }.get(how, ["--model", "mlp", *room])
    if how == "not a zip":
        bad = tmp_path / "notes.zip"
        bad.write_bytes(b"not a zip at all")
        args = ["--model", "mlp", "--extra", str(bad)]
    status, out, err = run_cli(capsys, "train", *args, *SHORT)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist_models: error: "), err
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_labels_and_unreadable_images_are_counted_in_the_summary(
    tmp_path, app_home, capsys, test_split
) -> None:
    store, code = make_room(tmp_path, test_split, people=6, per_person=5)
    good = test_split.images[0].numpy().tobytes()
    bad = [
        rules.Drawing(0, code, time.time(), "p0", None, STROKES, bytes(784), 4, ANSWERS),
        rules.Drawing(0, code, time.time(), "p1", None, STROKES, good, None, ANSWERS),
    ]
    store.import_drawings(code, bad)
    status, out, err = run_cli(
        capsys,
        "train",
        "--model",
        "mlp",
        "--room",
        code,
        "--store",
        str(tmp_path / "rooms.sqlite3"),
        *SHORT,
    )
    assert status == 0, err
    assert "left out: 1 unlabelled, 1 with an unreadable image" in out


@pytest.mark.slow  # starts a training process
def test_a_teach_job_runs_through_the_job_runner_and_saves_new_versions(
    tmp_path, app_home, test_split
) -> None:
    from mnist_models.training import jobs

    store, code = make_room(tmp_path, test_split, style=slanted)
    data = roomdata.from_drawings(store.drawings(code, include_hidden=True), f"room {code}")
    starts = [str(registry.active_version(a)[0].path) for a in ("mlp", "cnn")]
    spec = teach.TeachJob(data, starts, 0.4, room=code)
    configs = [teach.config(a, p, subset=200, epochs=2) for a, p in zip(("mlp", "cnn"), starts)]
    manager = jobs.JobManager()
    with pytest.raises(ValueError, match="one starting checkpoint per network"):
        manager.start(configs, teach=teach.TeachJob(data, starts[:1], 0.4))
    first = manager.start(configs, started_by="Presenter", teach=spec)
    assert first.runs[0].room == code and first.runs[0].title == f"MLP taught room {code}"
    status = manager.wait(timeout=600)
    assert status.state == "done", status.error
    for run in status.runs:
        t = run.taught
        assert t["model"] == run.model and t["held_out"] == len(data.held_ids)
        answers = {i: (y, b, a) for i, y, b, a in t["answers"]}
        assert sorted(answers) == sorted(data.held_ids)
        assert t["fixed"] == [i for i, (y, b, a) in answers.items() if a == y != b]
        assert t["broken"] == [i for i, (y, b, a) in answers.items() if b == y != a]
        assert len(run.history) == 2  # a curve point each epoch
        v = registry.get_version(run.version_id)
        assert v.meta["taught"]["room"]["source"] == f"room {code}"
        assert registry.active_id(run.model) != run.version_id  # not in use until asked
