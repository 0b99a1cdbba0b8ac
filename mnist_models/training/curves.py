"""Learning curves: test accuracy against training-set size, several seeds, resumable.

Every run gets the same budget of training samples (epochs x images), capped
at a number of epochs, so small subsets are not starved and the full set does
not take an hour. Results go to one JSON file, rewritten atomically after each
run; runs already in the file are skipped, so an interrupted grid resumes.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.nets import networks
from mnist_models.training import pipeline
from mnist_models.training.train import TrainConfig

SIZES = (100, 300, 1_000, 3_000, 10_000, 60_000)
SEEDS = (0, 1, 2)
BUDGET = 60_000  # training samples seen per run (epochs x images)
MIN_EPOCHS = 2
MAX_EPOCHS = 100
FORMAT = 1

# The 2017 blog's two claims, drawn on the chart.
BLOG_CLAIMS = (
    {
        "model": "cnn",
        "subset": 1_000,
        "accuracy": 0.95,
        "text": "blog: ConvNet 95% on 1,000 images",
    },
    {"model": "mlp", "subset": 60_000, "accuracy": 0.94, "text": "blog: MLP 94% on 60,000 images"},
)


class CurvesError(RuntimeError):
    """An output file that cannot be resumed with these settings."""


def epochs_for(
    size: int, budget: int = BUDGET, max_epochs: int = MAX_EPOCHS, min_epochs: int = MIN_EPOCHS
) -> int:
    """Epochs giving about `budget` training samples, within [min_epochs, max_epochs]."""
    return max(min_epochs, min(max_epochs, round(budget / size)))


@dataclass(frozen=True)
class RunKey:
    """One cell of the grid."""

    model: str
    subset: int
    augment: bool
    seed: int

    @classmethod
    def of(cls, run: dict[str, Any]) -> RunKey:
        return cls(run["model"], int(run["subset"]), bool(run["augment"]), int(run["seed"]))


def plan(models=None, sizes=SIZES, seeds=SEEDS, augments=(False, True)) -> list[RunKey]:
    """All runs, seed outermost: a stopped grid has every cell at least once first
    (models: network keys, default every network in the table)."""
    models = networks.keys() if models is None else models
    return [RunKey(m, n, a, s) for s in seeds for a in augments for m in models for n in sizes]


def settings(key: RunKey, budget: int = BUDGET, max_epochs: int = MAX_EPOCHS) -> dict[str, Any]:
    """The training settings a run of this cell gets with today's defaults."""
    cfg = TrainConfig(
        model=key.model,
        subset=key.subset,
        augment=key.augment,
        seed=key.seed,
        epochs=epochs_for(key.subset, budget, max_epochs),
    ).resolved()
    return {
        "epochs": cfg.epochs,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
        "label_smoothing": cfg.label_smoothing,
        "schedule": cfg.schedule,
    }


def training_note() -> str:
    """The training settings every run uses, as one line for the results file."""
    names = {
        "lr": "peak lr",
        "batch_size": "batch",
        "label_smoothing": "label smoothing",
        "optimizer": "optimizer",
    }
    parts = []
    for model, net in networks.NETWORKS.items():
        d, large = net.defaults, net.large
        text = (
            f"{model}: {d['optimizer']} peak lr {d['lr']:g}, batch {d['batch_size']}, "
            f"label smoothing {d['label_smoothing']:g}"
        )
        if large:
            text += (
                f" (from {networks.LARGE_SUBSET:,} images: "
                + ", ".join(f"{names[k]} {v:g}" for k, v in large.items())
                + ")"
            )
        parts.append(text)
    return "the network table's defaults, one-cycle schedule; " + "; ".join(parts)


def load_results(path: Path) -> dict[str, Any] | None:
    """The results file, or None if there is none yet."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CurvesError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise CurvesError(f"{path}: not a learning-curves file")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        files.atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
    except OSError as exc:
        raise CurvesError(f"{path}: cannot be written ({exc.strerror or exc})") from exc


def run_grid(
    out: Path,
    keys: list[RunKey],
    budget: int = BUDGET,
    max_epochs: int = MAX_EPOCHS,
    command: str = "",
    threads: int | None = None,
    log: Callable[[str], None] = print,
    train_split: mdata.Split | None = None,
    test_split: mdata.Split | None = None,
) -> dict[str, Any]:
    """Train every key not yet in `out`, saving after each run; returns the file's data."""
    data = load_results(out)
    if data is not None and (data.get("budget") != budget or data.get("max_epochs") != max_epochs):
        raise CurvesError(
            f"{out} was made with budget {data.get('budget')} and max {data.get('max_epochs')} "
            f"epochs, not {budget} and {max_epochs}: use another --out or the same settings"
        )
    if data is None:
        data = {
            "format": FORMAT,
            "what": "MNIST test accuracy (all 10,000 test images) against training-set size",
            "command": command,
            "budget": budget,
            "max_epochs": max_epochs,
            "epochs_rule": f"epochs = min(max_epochs, max({MIN_EPOCHS}, round(budget / size)))",
            "selection": "class-balanced random subset drawn with the run's seed "
            "(the full 60,000 for size 60,000)",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_version": torch.__version__,
            "runs": [],
        }
    if command:
        data["command"] = command  # the latest invocation (they differ only in --threads)
    data["training"] = training_note()
    sizes = sorted({k.subset for k in keys} | {int(s) for s in data.get("epochs_per_size", {})})
    data["epochs_per_size"] = {str(n): epochs_for(n, budget, max_epochs) for n in sizes}
    # A run made with other training settings (the defaults changed since) is redone.
    stale = [
        r for r in data["runs"] if r.get("settings") != settings(RunKey.of(r), budget, max_epochs)
    ]
    if stale:
        data["runs"] = [r for r in data["runs"] if r not in stale]
        log(
            f"{len(stale)} run(s) in {out} were trained with other settings than today's "
            "defaults: they will be redone"
        )
    done = {RunKey.of(r) for r in data["runs"]}
    todo = [k for k in keys if k not in done]
    log(f"{len(keys) - len(todo)} of {len(keys)} runs already in {out}; {len(todo)} to go")
    train_split = train_split or mdata.load_split("train")
    test_split = test_split or mdata.load_split("test")
    t_start = time.perf_counter()
    for i, k in enumerate(todo, 1):
        epochs = epochs_for(k.subset, budget, max_epochs)
        cfg = TrainConfig(
            model=k.model,
            subset=k.subset,
            epochs=epochs,
            augment=k.augment,
            seed=k.seed,
            eval_every=0,
            threads=threads,
            device="cpu",
        )
        # The last epoch's accuracy is on every test image already: no second evaluation.
        result = pipeline.fit(
            cfg, train_split=train_split, test_split=test_split, evaluate_on_test=False
        ).train
        data["runs"].append(
            {
                "model": k.model,
                "subset": k.subset,
                "augment": k.augment,
                "seed": k.seed,
                "epochs": epochs,
                "test_accuracy": round(result.test_accuracy, 4),
                "train_seconds": round(result.train_seconds, 2),
                "settings": settings(k, budget, max_epochs),
            }
        )
        data["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        _write(out, data)
        elapsed = time.perf_counter() - t_start
        log(
            f"[{i}/{len(todo)}] {k.model} n={k.subset:,} aug={k.augment} seed={k.seed} "
            f"{epochs} ep: {result.test_accuracy:.2%} in {result.train_seconds:.0f} s "
            f"({elapsed / 60:.1f} min so far)"
        )
    return data


@dataclass
class Cell:
    """Summary of the seeds of one (model, augment, size)."""

    model: str
    augment: bool
    subset: int
    epochs: int
    n: int
    mean: float
    std: float  # sample standard deviation over seeds (0 for one seed)
    low: float
    high: float


def summarise(data: dict[str, Any]) -> list[Cell]:
    """Mean, spread, min and max over seeds for each (model, augment, size)."""
    groups: dict[tuple[str, bool, int], list[dict[str, Any]]] = {}
    for r in data["runs"]:
        groups.setdefault((r["model"], bool(r["augment"]), int(r["subset"])), []).append(r)
    cells = []
    for (model, aug, n), runs in sorted(groups.items()):
        accs = [float(r["test_accuracy"]) for r in runs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        cells.append(
            Cell(
                model,
                aug,
                n,
                int(runs[0]["epochs"]),
                len(accs),
                statistics.fmean(accs),
                std,
                min(accs),
                max(accs),
            )
        )
    return cells


def summary_table(cells: list[Cell]) -> str:
    """A Markdown table: one row per size, one column per (model, augment)."""
    models = [k for k in networks.keys() if any(c.model == k for c in cells)]
    cols = [(m, a) for m in models for a in (False, True)]
    by = {(c.model, c.augment, c.subset): c for c in cells}
    sizes = sorted({c.subset for c in cells})
    head = (
        "| images | epochs | "
        + " | ".join(f"{networks.get(m).name}{' + aug' if a else ''}" for m, a in cols)
        + " |"
    )
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for n in sizes:
        row = [f"{n:,}", str(next(c.epochs for c in cells if c.subset == n))]
        for m, a in cols:
            c = by.get((m, a, n))
            if c is None:
                row.append("")
            elif c.n == 1:
                row.append(f"{c.mean:.2%} (1 seed)")
            else:
                row.append(
                    f"{c.mean:.2%} ± {c.std:.2%}" + (f" ({c.n} seeds)" if c.n != len(SEEDS) else "")
                )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def crossing(cells: list[Cell], model: str, augment: bool, target: float) -> float | None:
    """Training-set size where the mean curve first reaches target (log-interpolated)."""
    pts = sorted((c.subset, c.mean) for c in cells if c.model == model and c.augment == augment)
    for (n0, a0), (n1, a1) in zip(pts, pts[1:]):
        if a0 < target <= a1:
            t = (target - a0) / (a1 - a0)
            return math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))
    if pts and pts[0][1] >= target:
        return float(pts[0][0])
    return None
