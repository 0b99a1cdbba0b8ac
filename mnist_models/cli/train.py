"""The training commands: train, evaluate, curves, calibrate and ood fit."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mnist_models import data as mdata
from mnist_models.cli.args import (
    device,
    fail,
    setting,
    threads,
    whole_number,
    writable_problem,
)
from mnist_models.cli.teach import add_arguments as teach_arguments
from mnist_models.cli.teach import cmd_teach
from mnist_models.cpu import PRECISIONS, default_threads
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.evaluate import evaluate
from mnist_models.reading import ood
from mnist_models.training import calibration, curves, ood_fit, pipeline, settings
from mnist_models.training import teach as teach_run
from mnist_models.training.augment import STYLES
from mnist_models.training.train import OPTIMIZERS, Diverged, Progress, TrainConfig


class _Bar:
    """A one-line terminal progress bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
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
    if a.room is not None or a.extra is not None:
        cmd_teach(a)
        return
    if a.model == "both":
        fail("--model both teaches both networks a room: give --room or --extra")
    for flag, value in (("--from", a.start), ("--store", a.store), ("--ood", a.ood or None)):
        if value is not None:
            fail(f"{flag} is for teaching a room: give --room or --extra")
    cfg = TrainConfig(
        model=a.model,
        subset=a.subset or settings.default("subset"),
        first=a.first,
        epochs=a.epochs or settings.default("epochs"),
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
        precision=a.precision,
    )
    outputs = [a.out, checkpoint.meta_path(a.out)] if a.out is not None else []
    for path, suffix in zip(outputs, (".pt", ".json")):
        problem = writable_problem(path, suffix)
        if problem:
            fail(f"--out: {problem}")
    try:
        cfg = cfg.resolved()
        train_split = mdata.load_split("train", a.data_dir)
        test_split = mdata.load_split("test", a.data_dir)
    except (ValueError, mdata.DataError) as exc:
        fail(str(exc))
    try:
        # Without --out nothing is saved: the last epoch's accuracy (on every test image)
        # is the answer, and the evaluation for the metadata is skipped.
        fitted = pipeline.fit(
            cfg,
            train_split=train_split,
            test_split=test_split,
            on_progress=_Bar(not a.json),
            evaluate_on_test=a.out is not None,
            source="cli",
            title=a.title,
        )
    except Diverged as exc:
        fail(str(exc))
    result = fitted.train
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
        "precision": result.precision,
    }
    if a.out is not None:
        try:
            fitted.save(a.out)
        except (OSError, checkpoint.CheckpointError) as exc:
            fail(f"cannot save {a.out}: {getattr(exc, 'strerror', None) or exc}")
        summary["out"] = str(a.out)
    if a.json:
        print(json.dumps(summary))
    else:
        print(
            f"{cfg.model}: {cfg.subset:,} images x {cfg.epochs} epochs in "
            f"{result.train_seconds:.1f} s on {result.device} in {result.precision}; "
            f"test accuracy {result.test_accuracy:.2%}" + (f"; saved {a.out}" if a.out else "")
        )


def cmd_evaluate(a: argparse.Namespace) -> None:
    try:
        model, meta = checkpoint.load(a.path)
        test = mdata.load_split("test", a.data_dir)
    except (checkpoint.CheckpointError, mdata.DataError) as exc:
        fail(str(exc))
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
    problem = writable_problem(a.out)
    if problem:
        fail(f"--out: {problem}")
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
        fail(str(exc))
    print(curves.summary_table(curves.summarise(data)))


def cmd_calibrate(a: argparse.Namespace) -> None:
    results = {}
    for path in a.paths:
        problem = None if a.dry_run else writable_problem(checkpoint.meta_path(path))
        if problem:
            fail(f"{path}: cannot store the temperature: {problem}")
        try:
            r = calibration.calibrate(path, write=not a.dry_run)
        except (checkpoint.CheckpointError, mdata.DataError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{path}: cannot store the temperature ({exc.strerror or exc})")
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


def cmd_ood_fit(a: argparse.Namespace) -> None:
    # Every checkpoint is loaded and checked before the first (minutes-long) fit.
    loaded = []
    for path in a.paths:
        try:
            model, meta = checkpoint.load(path)
            ood_fit.layers_of(meta["architecture"])
        except (checkpoint.CheckpointError, ValueError) as exc:
            fail(f"{path}: {exc}" if isinstance(exc, ValueError) else str(exc))
        problem = writable_problem(ood.path_for(meta["sha256"], meta["architecture"], a.out))
        if problem:
            fail(f"--out: {problem}")
        loaded.append((path, model, meta))
    for path, model, meta in loaded:
        try:
            det = ood_fit.fit(model, meta, seed=a.seed)
        except mdata.DataError as exc:
            fail(str(exc))
        out = ood_fit.save(det, a.out)
        print(
            f"{path}: threshold {det.threshold_score:.3f}; held-out flagged "
            + ", ".join(f"{k} {v:.1%}" for k, v in det.info["held_out_flagged"].items())
            + f"; wrote {out}",
            flush=True,
        )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The training commands' subparsers, every argument checked as it is read."""
    t = sub.add_parser("train", help="train a network and save a checkpoint")
    t.add_argument(
        "--model",
        required=True,
        choices=[*networks.keys(), "both"],
        help="the network; both: every network, when teaching a room",
    )
    for name, flag in (("subset", "--subset"), ("epochs", "--epochs")):
        s = settings.get(name)
        t.add_argument(
            flag,
            type=setting(name),
            default=None,
            help=f"{s.help}; default {s.default:,}, or {getattr(teach_run, name.upper()):,} "
            "when teaching a room",
        )
    t.add_argument(
        "--first",
        action="store_true",
        help="take the first N images, as the blog did (default: balanced random)",
    )
    t.add_argument(
        "--augment",
        nargs="?",
        const="jitter",
        choices=list(STYLES),
        default=None,
        help="random rotations/scalings/shifts/shears; 'drawn' (as the shipped weights): wider "
        "ranges, narrow digits, thinner and thicker ink, and half of each batch redrawn as "
        "the drawing page sees digits (the default when no value is given: 'jitter')",
    )
    for name in ("seed", "batch_size"):
        s = settings.get(name)
        t.add_argument(
            "--" + name.replace("_", "-"), type=setting(name), default=s.default, help=s.help
        )
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    for name in ("lr", "label_smoothing", "eval_every"):
        s = settings.get(name)
        t.add_argument(
            "--" + name.replace("_", "-"), type=setting(name), default=s.default, help=s.help
        )
    t.add_argument("--threads", type=threads, default=None, help=settings.get("threads").help)
    t.add_argument(
        "--device",
        type=device,
        default="auto",
        help="auto, cpu, cuda or mps (those present on this machine)",
    )
    t.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="the forward pass in bf16 (autocast) or fp32; auto (default): bf16 where the "
        "CPU computes it natively and it measures faster, else fp32",
    )
    t.add_argument("--title", default=None, help="a name shown in the app")
    t.add_argument("--out", type=Path, default=None, help="where to save (.pt)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    teach_arguments(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    e.add_argument("path", type=Path)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("curves", help="learning curves: accuracy against training-set size")
    c.add_argument("--out", type=Path, default=Path("data/curves.json"))
    c.add_argument("--models", nargs="+", choices=networks.keys(), default=list(networks.keys()))
    c.add_argument("--sizes", nargs="+", type=setting("subset"), default=list(curves.SIZES))
    c.add_argument("--seeds", type=whole_number("seeds"), default=3, help="seeds 0..k-1 per cell")
    c.add_argument("--augment", choices=["both", "on", "off"], default="both")
    c.add_argument(
        "--budget",
        type=whole_number("budget"),
        default=curves.BUDGET,
        help="training samples per run (epochs = budget / size)",
    )
    c.add_argument("--max-epochs", type=setting("epochs"), default=curves.MAX_EPOCHS)
    c.add_argument("--threads", type=threads, default=None)
    c.set_defaults(func=cmd_curves)

    k = sub.add_parser("calibrate", help="calibration figures; fit and store a temperature")
    k.add_argument("paths", type=Path, nargs="+", help="checkpoints (.pt)")
    k.add_argument("--dry-run", action="store_true", help="print only, write nothing")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=cmd_calibrate)

    o = sub.add_parser("ood", help="the not-a-digit check's detectors")
    osub = o.add_subparsers(dest="ood_command", required=True, parser_class=type(o))
    f = osub.add_parser("fit", help="fit the not-a-digit detector of checkpoints")
    f.add_argument("paths", type=Path, nargs="+", metavar="CHECKPOINT")
    f.add_argument("--out", type=Path, default=ood.OOD_DIR, help="folder of the detectors")
    f.add_argument("--seed", type=setting("seed"), default=0, help="seed of the fitting sets")
    f.set_defaults(func=cmd_ood_fit)
