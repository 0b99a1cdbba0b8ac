"""Command line: python -m mnist_models {train,evaluate,curves,calibrate,read,room} ..."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mnist_models import data as mdata
from mnist_models.nets import checkpoint, networks

SEED_MAX = 2**32 - 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        _fail(message)


def _fail(message: str) -> None:
    sys.stderr.write(f"mnist_models: error: {message}\n")
    sys.exit(2)


def _whole_number(lo: int, hi: int | None = None, rule: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from lo (to hi), '60,000' and '60_000' allowed."""
    rule = rule or (f"between {lo:,} and {hi:,}" if hi is not None else f"at least {lo:,}")

    def parse(text: str) -> int:
        try:
            n = int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if n < lo or (hi is not None and n > hi):
            raise argparse.ArgumentTypeError(f"must be {rule}, not {n}")
        return n

    return parse


def _number(ok: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type: a number for which ok() holds (NaN never does)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if math.isnan(v) or not ok(v):
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
        return v

    return parse


_subset = _whole_number(1, 60_000)
_positive = _whole_number(1)
_seed = _whole_number(0, SEED_MAX, f"from 0 to {SEED_MAX}")
_non_negative = _whole_number(0, rule="0 or more")
_finite_positive = _number(lambda v: 0 < v < math.inf, "a finite number above 0")
_smoothing = _number(lambda v: 0.0 <= v < 1.0, "in [0, 1)")


def _threads(text: str) -> int:
    from mnist_models.cpu import default_threads

    n = _positive(text)
    cores = default_threads()
    if n > cores:  # far more threads than cores has crashed torch outright
        raise argparse.ArgumentTypeError(f"must be from 1 to {cores} (the cores here), not {n}")
    return n


def _device(text: str) -> str:
    import torch

    if text in ("auto", "cpu"):
        return text
    kind, _, index = text.partition(":")
    if kind not in ("cuda", "mps") or (index and not index.isdigit()):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; choose from auto, cpu, cuda, mps"
        )
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        present = count > 0 and (not index or int(index) < count)
    else:
        mps = getattr(torch.backends, "mps", None)
        present = mps is not None and mps.is_available() and index in ("", "0")
    if not present:
        raise argparse.ArgumentTypeError(f"{text} is not available on this machine")
    return text


def writable_problem(path: Path, suffix: str | None = None) -> str | None:
    """Why a file cannot be written at path (checked before any work), or None if it can."""
    if suffix is not None and path.suffix != suffix:
        return f"{path} must end in {suffix}"
    if path.is_dir():
        return f"{path} is a folder, not a file"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A real file in the folder: os.access says yes to root on a read-only disk.
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {path.parent} ({exc.strerror or exc})"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


class _Bar:
    """A one-line terminal progress bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not p.epoch_done and now - self.last < 0.1:
            return
        self.last = now
        done = ((p.epoch - 1) * p.batches + p.batch) / (p.epochs * p.batches)
        width = 30
        bar = "#" * int(done * width) + "-" * (width - int(done * width))
        test = ""
        if p.epoch_done and p.history and p.history[-1].test_accuracy is not None:
            test = f" test {p.history[-1].test_accuracy:.2%}"
        sys.stderr.write(
            f"\r[{bar}] epoch {p.epoch}/{p.epochs} loss {p.loss:.4f} "
            f"acc {p.accuracy:.2%}{test} {p.elapsed:.0f}s   "
        )
        if p.epoch_done and p.epoch == p.epochs:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_train(a: argparse.Namespace) -> None:
    from mnist_models.cpu import default_threads
    from mnist_models.nets.evaluate import evaluate
    from mnist_models.training.train import Diverged, TrainConfig, train

    cfg = TrainConfig(
        model=a.model,
        subset=a.subset,
        first=a.first,
        epochs=a.epochs,
        batch_size=a.batch_size,
        optimizer=a.optimizer,
        lr=a.lr,
        label_smoothing=a.label_smoothing,
        augment=a.augment is not None,
        augment_style=a.augment or "jitter",
        seed=a.seed,
        eval_every=a.eval_every,
        threads=a.threads or default_threads(),
        device=a.device,
    )
    outputs = [a.out, checkpoint.meta_path(a.out)] if a.out is not None else []
    for path, suffix in zip(outputs, (".pt", ".json")):
        problem = writable_problem(path, suffix)
        if problem:
            _fail(f"--out: {problem}")
    try:
        cfg = cfg.resolved()
        train_split = mdata.load_split("train", a.data_dir)
        test_split = mdata.load_split("test", a.data_dir)
    except (ValueError, mdata.DataError) as exc:
        _fail(str(exc))
    try:
        result = train(
            cfg, on_progress=_Bar(not a.json), train_split=train_split, test_split=test_split
        )
    except Diverged as exc:
        _fail(str(exc))
    summary = {
        "model": cfg.model,
        "subset": cfg.subset,
        "selection": "first" if cfg.first else "balanced",
        "epochs": cfg.epochs,
        "augment": cfg.augment,
        "augment_style": cfg.augment_style if cfg.augment else None,
        "seed": cfg.seed,
        "train_seconds": round(result.train_seconds, 2),
        "wall_seconds": round(result.wall_seconds, 2),
        "test_accuracy": round(result.test_accuracy, 4),
        "device": result.device,
    }
    if a.out is not None:
        report = evaluate(
            result.model,
            test_split.images,
            test_split.labels,
            memory_format=networks.get(cfg.model).memory_format,
        )
        meta = checkpoint.training_metadata(result, report, source="cli", title=a.title)
        try:
            checkpoint.save(result.model, a.out, cfg.model, meta)
        except (OSError, checkpoint.CheckpointError) as exc:
            _fail(f"cannot save {a.out}: {getattr(exc, 'strerror', None) or exc}")
        summary["out"] = str(a.out)
    if a.json:
        print(json.dumps(summary))
    else:
        print(
            f"{cfg.model}: {cfg.subset:,} images x {cfg.epochs} epochs in "
            f"{result.train_seconds:.1f} s on {result.device}; "
            f"test accuracy {result.test_accuracy:.2%}" + (f"; saved {a.out}" if a.out else "")
        )


def cmd_evaluate(a: argparse.Namespace) -> None:
    from mnist_models.nets.evaluate import evaluate

    try:
        model, meta = checkpoint.load(a.path)
        test = mdata.load_split("test", a.data_dir)
    except (checkpoint.CheckpointError, mdata.DataError) as exc:
        _fail(str(exc))
    report = evaluate(model, test.images, test.labels)
    cfg = meta.get("train_config", {})
    if a.json:
        print(
            json.dumps(
                {
                    "path": str(a.path),
                    "model": meta["architecture"],
                    "subset": cfg.get("subset"),
                    "epochs": cfg.get("epochs"),
                    "train_seconds": meta.get("train_seconds"),
                    "test_accuracy": round(report.accuracy, 4),
                    "recorded_test_accuracy": meta.get("test_accuracy"),
                    "per_class": [round(v, 4) for v in report.per_class],
                }
            )
        )
        return
    print(f"{a.path}: {meta.get('title', meta['architecture'])}")
    print(f"test accuracy {report.accuracy:.2%} on {report.count:,} MNIST test images")
    for digit, acc in enumerate(report.per_class):
        print(f"  {digit}: {acc:.2%}")


def cmd_curves(a: argparse.Namespace) -> None:
    from mnist_models.training import curves

    problem = writable_problem(a.out)
    if problem:
        _fail(f"--out: {problem}")
    keys = curves.plan(
        a.models,
        a.sizes,
        range(a.seeds),
        {"both": (False, True), "on": (True,), "off": (False,)}[a.augment],
    )
    command = "python -m mnist_models " + " ".join(sys.argv[1:])
    try:
        data = curves.run_grid(
            a.out,
            keys,
            a.budget,
            a.max_epochs,
            command,
            a.threads,
            log=lambda m: print(m, flush=True),
        )
    except (curves.CurvesError, mdata.DataError) as exc:
        _fail(str(exc))
    print(curves.summary_table(curves.summarise(data)))


def cmd_calibrate(a: argparse.Namespace) -> None:
    from mnist_models.training import calibration

    results = {}
    for path in a.paths:
        problem = None if a.dry_run else writable_problem(checkpoint.meta_path(path))
        if problem:
            _fail(f"{path}: cannot store the temperature: {problem}")
        try:
            r = calibration.calibrate(path, write=not a.dry_run)
        except (checkpoint.CheckpointError, mdata.DataError) as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{path}: cannot store the temperature ({exc.strerror or exc})")
        results[str(path)] = r
        if a.json:
            continue
        print(
            f"{path}: fitted T = {r['fitted_temperature']:.3f}, stored T = "
            f"{r['temperature']:.3f}" + (" (dry run, nothing written)" if a.dry_run else "")
        )
        print("  set        T      accuracy  ECE(15)  NLL     Brier")
        for where in ("held_out", "test"):
            for when in ("before", "after"):
                f = r[where][when]
                print(
                    f"  {where + ' ' + when:<17}{f['temperature']:<7.3f}{f['accuracy']:<10.2%}"
                    f"{f['ece']:<9.3%}{f['nll']:<8.4f}{f['brier']:.4f}"
                )
        print("  threshold  not sure  wrong when sure  errors caught (test, stored T)")
        for row in r["thresholds"]:
            print(
                f"  {row['threshold']:<11.2f}{row['not_sure']:<10.2%}"
                f"{row['wrong_when_sure']:<17.3%}{row['wrong_caught']:.1%}"
            )
    if a.json:
        print(json.dumps(results))


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: every argument checked as it is read."""
    p = _Parser(prog="python -m mnist_models", description=__doc__)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder with the MNIST IDX files (default: ${mdata.DATA_DIR_ENV} "
        "or the bundled data/mnist)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a network and save a checkpoint")
    t.add_argument("--model", required=True, choices=networks.keys())
    t.add_argument("--subset", type=_subset, default=60_000, help="training images (1-60,000)")
    t.add_argument("--epochs", type=_positive, default=10)
    t.add_argument(
        "--first",
        action="store_true",
        help="take the first N images, as the blog did (default: balanced random)",
    )
    t.add_argument(
        "--augment",
        nargs="?",
        const="jitter",
        choices=["jitter", "drawn"],
        default=None,
        help="random rotations/scalings/shifts/shears; 'drawn' (as the shipped weights): wider "
        "ranges, narrow digits, thinner and thicker ink, and half of each batch redrawn as "
        "the drawing page sees digits (the default when no value is given: 'jitter')",
    )
    t.add_argument("--seed", type=_seed, default=0, help=f"0 to {SEED_MAX}")
    t.add_argument("--batch-size", type=_positive, default=None)
    t.add_argument("--optimizer", choices=["adam", "adamw", "rmsprop", "sgd"], default=None)
    t.add_argument("--lr", type=_finite_positive, default=None, help="peak learning rate")
    t.add_argument(
        "--label-smoothing",
        type=_smoothing,
        default=None,
        help="in [0, 1); default: the network's (0.1 for the ConvNet under 20,000 images, else 0)",
    )
    t.add_argument(
        "--eval-every",
        type=_non_negative,
        default=1,
        help="test accuracy every k epochs (0: only at the end)",
    )
    t.add_argument("--threads", type=_threads, default=None, help="1 to the number of cores")
    t.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="auto, cpu, cuda or mps (those present on this machine)",
    )
    t.add_argument("--title", default=None, help="a name shown in the app")
    t.add_argument("--out", type=Path, default=None, help="where to save (.pt)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    e.add_argument("path", type=Path)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("curves", help="learning curves: accuracy against training-set size")
    c.add_argument("--out", type=Path, default=Path("data/curves.json"))
    c.add_argument("--models", nargs="+", choices=networks.keys(), default=list(networks.keys()))
    c.add_argument("--sizes", nargs="+", type=_subset, default=[100, 300, 1000, 3000, 10000, 60000])
    c.add_argument("--seeds", type=_positive, default=3, help="seeds 0..k-1 per cell")
    c.add_argument("--augment", choices=["both", "on", "off"], default="both")
    c.add_argument(
        "--budget",
        type=_positive,
        default=60_000,
        help="training samples per run (epochs = budget / size)",
    )
    c.add_argument("--max-epochs", type=_positive, default=100)
    c.add_argument("--threads", type=_threads, default=None)
    c.set_defaults(func=cmd_curves)

    k = sub.add_parser("calibrate", help="calibration figures; fit and store a temperature")
    k.add_argument("paths", type=Path, nargs="+", help="checkpoints (.pt)")
    k.add_argument("--dry-run", action="store_true", help="print only, write nothing")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=cmd_calibrate)

    from mnist_models.cli import read as read_cli
    from mnist_models.cli import room as rooms_cli

    read_cli.add_parser(sub)
    rooms_cli.add_parser(sub)

    return p


def main(argv: list[str] | None = None) -> None:
    """Run one command (sys.argv[1:] by default); exit status 2 with one line on bad input."""
    a = build_parser().parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
