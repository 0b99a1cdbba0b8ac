"""The command line as a user runs it: python -m mnist_models ..."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_here

from mnist_models import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "mnist_models", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, one line on stderr that says what is wrong, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("mnist_models: error: ")
    for word in words:
        assert word in lines[0], lines[0]


# The cases a user meets most, through a real interpreter (each starts torch: seconds).
BAD_ARGUMENTS = [
    (["train", "--model", "cnn", "--subset", "0"], ["--subset", "a whole number from 1 to 60,000"]),
    (["train", "--model", "cnn", "--subset", "60001"], ["--subset", "not 60001"]),
    (["train", "--model", "resnet"], ["--model", "invalid choice", "resnet"]),
    (["train", "--model", "mlp", "--epochs", "0"], ["--epochs", "from 1 to 1,000, not 0"]),
]
# More of the same, in this process: main(argv) behaves as the command does.
MORE_BAD_ARGUMENTS = [
    (["train", "--model", "cnn", "--subset", "lots"], ["--subset", "not a whole number"]),
    (["train", "--model", "cnn", "--subset", "-5"], ["--subset"]),
    (["train", "--model", "mlp", "--lr", "-1"], ["--lr", "above 0"]),
    (["train", "--model", "mlp", "--lr", "fast"], ["--lr", "not a number"]),
    (["train", "--model", "mlp", "--epochs", "two"], ["--epochs", "not a whole number"]),
    (["train", "--model", "mlp", "--optimizer", "lbfgs"], ["--optimizer", "invalid choice"]),
    (["train", "--model", "cnn", "--label-smoothing", "1.5"], ["--label-smoothing", "not 1.5"]),
    (["train", "--model", "cnn", "--label-smoothing", "nan"], ["--label-smoothing", "[0, 1)"]),
    (["train", "--model", "cnn", "--label-smoothing", "-0.1"], ["--label-smoothing"]),
    (["train", "--model", "mlp", "--seed", str(2**70)], ["--seed", "from 0 to 4,294,967,295"]),
    (["train", "--model", "mlp", "--seed", "-1"], ["--seed", "not -1"]),
    (["train", "--model", "mlp", "--seed", "2**70"], ["--seed", "not a whole number"]),
    (["train", "--model", "mlp", "--threads", "100000"], ["--threads", "the cores here"]),
    (["train", "--model", "mlp", "--threads", "0"], ["--threads", "from 1 to", "not 0"]),
    (["train", "--model", "mlp", "--device", "foo"], ["--device", "unknown device 'foo'"]),
    (["train", "--model", "mlp", "--device", "cuda:x"], ["--device", "unknown device"]),
    (["train", "--model", "mlp", "--lr", "inf"], ["--lr", "finite"]),
    (["train", "--model", "mlp", "--lr", "nan"], ["--lr"]),
    (["train", "--model", "mlp", "--eval-every", "-1"], ["--eval-every", "from 0 to 1,000"]),
    # One cap on epochs for the page, the command line and the loop (settings.py).
    (["train", "--model", "mlp", "--epochs", "1000000000000"], ["--epochs", "from 1 to 1,000"]),
    (["train", "--model", "mlp", "--batch-size", "0"], ["--batch-size", "from 1 to 60,000"]),
    (["ood"], ["ood_command"]),
    (["ood", "fit"], ["CHECKPOINT"]),
    (["ood", "fit", "weights/mlp.pt", "--seed", "-1"], ["--seed", "not -1"]),
    (["curves", "--max-epochs", "5000"], ["--max-epochs", "from 1 to 1,000"]),
    (["ood", "fit", "nothing.pt"], ["nothing.pt", "missing"]),
    (["ood", "fit", "weights/mlp.pt", "--out", "/proc/ood"], ["--out", "cannot write"]),
    (["curves", "--threads", "100000"], ["--threads"]),
    (["train"], ["--model"]),
    (["fly"], ["invalid choice"]),
    ([], ["command"]),
]


@pytest.fixture(scope="module")
def bad_runs() -> dict[str, subprocess.CompletedProcess]:
    """Every bad command line of BAD_ARGUMENTS, run in this interpreter."""
    return {" ".join(args): run_here(*args) for args, _ in BAD_ARGUMENTS}


def test_a_bad_command_line_in_a_fresh_interpreter_is_one_line() -> None:
    assert_one_line_error(run("train", "--model", "mlp", "--epochs", "0"), "--epochs")


@pytest.mark.parametrize(("args", "words"), BAD_ARGUMENTS)
def test_bad_arguments(bad_runs, args: list[str], words: list[str]) -> None:
    assert_one_line_error(bad_runs[" ".join(args)], *words)


@pytest.mark.parametrize(("args", "words"), MORE_BAD_ARGUMENTS)
def test_more_bad_arguments(capsys, args: list[str], words: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    proc = subprocess.CompletedProcess(args, exit_info.value.code, out, err)
    assert_one_line_error(proc, *words)


def test_missing_checkpoint(tmp_path: Path) -> None:
    proc = run_here("evaluate", str(tmp_path / "nothing.pt"))
    assert_one_line_error(proc, "nothing.pt", "missing")


def test_unreadable_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    junk = b"not a checkpoint"
    path.write_bytes(junk)
    meta = {"architecture": "cnn", "sha256": hashlib.sha256(junk).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert_one_line_error(run_here("evaluate", str(path)), "junk.pt", "not a loadable state_dict")


def test_checkpoint_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "lonely.pt"
    path.write_bytes(b"\x00" * 10)
    assert_one_line_error(run_here("evaluate", str(path)), "lonely.json", "missing")


def test_out_must_be_a_pt_file(tmp_path: Path) -> None:
    proc = run_here(
        "train",
        "--model",
        "mlp",
        "--subset",
        "10",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "model.pth"),
    )
    assert_one_line_error(proc, "--out", ".pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # trains in a fresh interpreter
def test_train_then_evaluate_roundtrip(tmp_path: Path) -> None:
    out = tmp_path / "tiny.pt"
    proc = run(
        "train",
        "--model",
        "mlp",
        "--subset",
        "1,000",
        "--epochs",
        "2",
        "--eval-every",
        "0",
        "--threads",
        "1",
        "--seed",
        "3",
        "--json",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(proc.stdout)
    assert trained["model"] == "mlp" and trained["subset"] == 1000 and trained["epochs"] == 2
    assert trained["selection"] == "balanced" and trained["seed"] == 3
    assert trained["out"] == str(out) and trained["device"] == "cpu"
    assert trained["test_accuracy"] > 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.pt"]

    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["architecture"] == "mlp" and meta["parameters"] == 1_526_410
    assert meta["train_config"]["subset"] == 1000 and meta["train_config"]["seed"] == 3
    assert len(meta["history"]) == 2
    assert meta["command"] == (
        "python -m mnist_models train --model mlp --subset 1000 --epochs 2 --seed 3 "
        "--batch-size 128 --optimizer adam --lr 0.001 --label-smoothing 0.0 --eval-every 0 "
        "--threads 1" + (" --precision bf16" if meta["precision"] == "bf16" else "")
    )  # the defaults written out, and the precision used: it still reproduces the run later
    assert meta["source"] == "cli" and meta["device"] == "cpu"
    assert meta["title"] == "MLP (1,000 balanced images, 2 epochs)"
    assert len(meta["per_class_accuracy"]) == 10
    assert sum(map(sum, meta["confusion_matrix"])) == 10_000

    proc = run("evaluate", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads(proc.stdout)
    assert evaluated["test_accuracy"] == pytest.approx(trained["test_accuracy"], abs=1e-4)
    assert evaluated["recorded_test_accuracy"] == pytest.approx(
        evaluated["test_accuracy"], abs=1e-4
    )
    assert len(evaluated["per_class"]) == 10
    assert evaluated["model"] == "mlp" and evaluated["subset"] == 1000

    proc = run("evaluate", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "10,000" in proc.stdout


def test_absent_accelerators_are_refused_before_training() -> None:
    import torch

    absent = [
        d
        for d, present in (
            ("cuda", torch.cuda.is_available()),
            ("mps", torch.backends.mps.is_available()),
        )
        if not present
    ]
    for device in absent:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["train", "--model", "mlp", "--device", device])
        assert exit_info.value.code == 2


@pytest.mark.parametrize("where", ["folder", "under_a_file", "folder_json", "read_only"])
def test_unwritable_out_is_refused_before_training(tmp_path: Path, capsys, where) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = {
        "folder": tmp_path / "dir.pt",
        "under_a_file": blocker / "sub" / "m.pt",
        "folder_json": tmp_path / "m.pt",
        "read_only": Path("/proc/m.pt"),
    }[where]
    if where == "folder":
        out.mkdir()
    if where == "folder_json":
        (tmp_path / "m.json").mkdir()  # the metadata would go there
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            ["train", "--model", "mlp", "--subset", "60000", "--epochs", "50", "--out", str(out)]
        )
    assert time.monotonic() - t0 < 5  # refused at once, not after training
    out_, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], exit_info.value.code, out_, err), "--out")


@pytest.mark.slow  # trains in a fresh interpreter
def test_a_diverging_run_exits_2_and_saves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nan.pt"
    proc = run(
        "train",
        "--model",
        "mlp",
        "--subset",
        "300",
        "--epochs",
        "2",
        "--lr",
        "1e30",
        "--threads",
        "1",
        "--out",
        str(out),
    )
    assert_one_line_error(proc, "the loss became nan", "nothing was kept")
    assert list(tmp_path.iterdir()) == []


def test_curves_and_calibrate_refuse_unwritable_places(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for argv in (
        ["curves", "--out", str(blocker / "curves.json")],
        ["curves", "--out", str(tmp_path)],
        ["calibrate", str(blocker / "m.pt")],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        out, err = capsys.readouterr()
        assert_one_line_error(subprocess.CompletedProcess(argv, exit_info.value.code, out, err))


def test_recorded_command_writes_every_setting_out() -> None:
    from mnist_models.training.pipeline import command_line
    from mnist_models.training.train import TrainConfig

    cfg = TrainConfig(
        model="cnn", subset=1000, first=True, epochs=100, augment=True, threads=2
    ).resolved()
    words = shlex.split(command_line(cfg))
    assert words == [
        "python",
        "-m",
        "mnist_models",
        "train",
        "--model",
        "cnn",
        "--subset",
        "1000",
        "--first",
        "--epochs",
        "100",
        "--augment",
        "jitter",
        "--seed",
        "0",
        "--batch-size",
        "128",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--label-smoothing",
        "0.1",
        "--eval-every",
        "1",
        "--threads",
        "2",
    ]
    # And the command line parses it back into the same configuration.
    parsed = cli.build_parser().parse_args(words[3:])
    assert (
        parsed.model,
        parsed.subset,
        parsed.first,
        parsed.epochs,
        parsed.augment,
        parsed.lr,
        parsed.label_smoothing,
        parsed.threads,
    ) == ("cnn", 1000, True, 100, "jitter", 0.01, 0.1, 2)


@pytest.mark.parametrize("path", sorted((ROOT / "weights").glob("*.json")), ids=lambda p: p.name)
def test_the_shipped_checkpoints_commands_still_parse(path: Path) -> None:
    """The command recorded in a checkpoint reproduces it: it parses into its own settings."""
    from mnist_models.cpu import default_threads

    meta = json.loads(path.read_text())
    words = shlex.split(meta["command"])
    assert words[:4] == ["python", "-m", "mnist_models", "train"]
    words = words[3:]
    if "--threads" in words:  # recorded on a machine that may have more cores than this one
        at = words.index("--threads")
        if int(words[at + 1]) > default_threads():
            del words[at : at + 2]
    parsed = cli.build_parser().parse_args(words)
    cfg = meta["train_config"]
    for name in ("model", "subset", "first", "epochs", "batch_size", "optimizer", "lr"):
        assert getattr(parsed, name) == cfg[name], name
    assert parsed.label_smoothing == cfg["label_smoothing"]
    # Files from before there were two augmentation styles have no augment_style: "jitter".
    assert (parsed.augment is not None) == cfg["augment"]
    assert (parsed.augment or "jitter") == cfg.get("augment_style", "jitter")
