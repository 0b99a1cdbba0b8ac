"""The command line as a user runs it: python -m mnist_models ..."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mnist_models import __main__ as cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter from the repository root."""
    return subprocess.run([sys.executable, "-m", "mnist_models", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, one line on stderr that says what is wrong, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("python -m mnist_models") or lines[0].startswith("mnist_models")
    for word in words:
        assert word in lines[0], lines[0]


# The cases a user meets most, through a real interpreter (each starts torch: seconds).
BAD_ARGUMENTS = [
    (["train", "--model", "cnn", "--subset", "0"], ["--subset", "between 1 and 60,000"]),
    (["train", "--model", "cnn", "--subset", "60001"], ["--subset", "not 60001"]),
    (["train", "--model", "resnet"], ["--model", "invalid choice", "resnet"]),
    (["train", "--model", "mlp", "--epochs", "0"], ["--epochs", "at least 1"]),
]
# More of the same, in this process: main(argv) behaves as the command does.
MORE_BAD_ARGUMENTS = [
    (["train", "--model", "cnn", "--subset", "lots"], ["--subset", "not a whole number"]),
    (["train", "--model", "cnn", "--subset", "-5"], ["--subset"]),
    (["train", "--model", "mlp", "--lr", "-1"], ["--lr", "above 0"]),
    (["train", "--model", "mlp", "--lr", "fast"], ["--lr", "not a number"]),
    (["train", "--model", "mlp", "--epochs", "two"], ["--epochs", "not a whole number"]),
    (["train", "--model", "mlp", "--optimizer", "lbfgs"], ["--optimizer", "invalid choice"]),
    (["train", "--model", "cnn", "--label-smoothing", "1.5"], ["label smoothing", "not 1.5"]),
    (["train"], ["--model"]),
    (["fly"], ["invalid choice"]),
    ([], ["command"]),
]


@pytest.fixture(scope="module")
def bad_runs() -> dict[str, subprocess.CompletedProcess]:
    """Every bad command line of BAD_ARGUMENTS, run two at a time."""
    keys = [" ".join(args) for args, _ in BAD_ARGUMENTS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda a: run(*a), [args for args, _ in BAD_ARGUMENTS]))
    return dict(zip(keys, procs, strict=True))


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
    proc = run("evaluate", str(tmp_path / "nothing.pt"))
    assert_one_line_error(proc, "nothing.pt", "missing")


def test_unreadable_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    junk = b"not a checkpoint"
    path.write_bytes(junk)
    meta = {"architecture": "cnn", "sha256": hashlib.sha256(junk).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert_one_line_error(run("evaluate", str(path)), "junk.pt", "not a loadable state_dict")


def test_checkpoint_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "lonely.pt"
    path.write_bytes(b"\x00" * 10)
    assert_one_line_error(run("evaluate", str(path)), "lonely.json", "missing")


def test_out_must_be_a_pt_file(tmp_path: Path) -> None:
    proc = run("train", "--model", "mlp", "--subset", "10", "--epochs", "1",
               "--out", str(tmp_path / "model.pth"))
    assert_one_line_error(proc, "--out", ".pt")
    assert list(tmp_path.iterdir()) == []


def test_train_then_evaluate_roundtrip(tmp_path: Path) -> None:
    out = tmp_path / "tiny.pt"
    proc = run("train", "--model", "mlp", "--subset", "1,000", "--epochs", "2", "--eval-every",
               "0", "--threads", "1", "--seed", "3", "--json", "--out", str(out))
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
    assert meta["command"].startswith("python -m mnist_models train --model mlp")
    # The defaults it used are written out, so the command still reproduces the run later.
    assert meta["command"].endswith(
        "--batch-size 128 --optimizer adam --lr 0.001 --label-smoothing 0")

    proc = run("evaluate", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads(proc.stdout)
    assert evaluated["test_accuracy"] == pytest.approx(trained["test_accuracy"], abs=1e-4)
    assert evaluated["recorded_test_accuracy"] == pytest.approx(evaluated["test_accuracy"],
                                                                abs=1e-4)
    assert len(evaluated["per_class"]) == 10
    assert evaluated["model"] == "mlp" and evaluated["subset"] == 1000

    proc = run("evaluate", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "10,000" in proc.stdout


def test_recorded_command_is_shell_quoted_and_pins_only_unset_settings() -> None:
    from mnist_models.__main__ import _command
    from mnist_models.train import TrainConfig

    argv = ["train", "--model", "cnn", "--lr", "0.01", "--title", "ConvNet (1,000 images)"]
    cfg = TrainConfig(model="cnn", subset=1000, lr=0.01).resolved()
    words = shlex.split(_command(argv, cfg))
    assert words[:3] == ["python", "-m", "mnist_models"]
    assert words[3:3 + len(argv)] == argv  # the title stays one argument
    assert words[3 + len(argv):] == ["--batch-size", "128", "--optimizer", "adam",
                                     "--label-smoothing", "0.1"]  # --lr was given
