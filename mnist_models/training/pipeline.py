"""The one training pipeline: train, evaluate on the test set, build the checkpoint metadata.

The command line (``train``), the training process of the app (``child.py``) and the
learning curves all call :func:`fit`. Fine-tuning is a parameter, not a copy: ``start``
begins from a checkpoint's weights (the same network), and ``extra`` mixes other
images into the MNIST subset.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from mnist_models import data as mdata
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.evaluate import Report, evaluate
from mnist_models.nets.models import count_parameters
from mnist_models.training.train import (
    Progress,
    TrainConfig,
    TrainResult,
    check_extra,
    run_title,
    train,
)


@dataclass
class FitResult:
    """A trained model, how it was trained, and (when evaluated) its report and metadata."""

    train: TrainResult
    arch_kwargs: dict[str, Any]
    report: Report | None  # all test images; None when fit(evaluate=False)
    eval_seconds: float
    metadata: dict[str, Any] | None  # for checkpoint.save; None when not evaluated

    @property
    def model(self) -> nn.Module:
        return self.train.model

    @property
    def config(self) -> TrainConfig:
        return self.train.config

    def save(self, path: str | os.PathLike) -> dict[str, Any]:
        """Write the checkpoint (.pt and .json); returns the metadata written."""
        if self.metadata is None:
            raise ValueError("a model fitted without evaluate=True has no metadata to save")
        return checkpoint.save(
            self.model, path, self.config.model, self.metadata, arch_kwargs=self.arch_kwargs
        )


def command_line(cfg: TrainConfig, precision: str | None = None) -> str:
    """The command that reproduces a run of this resolved config, every setting written
    out (so it still does when the defaults change)."""
    args = ["train", "--model", cfg.model, "--subset", str(cfg.subset)]
    args += ["--first"] * cfg.first + ["--epochs", str(cfg.epochs)]
    if cfg.augment:
        args += ["--augment", cfg.augment_style]
    args += [
        "--seed",
        str(cfg.seed),
        "--batch-size",
        str(cfg.batch_size),
        "--optimizer",
        str(cfg.optimizer),
        "--lr",
        repr(float(cfg.lr)),
        "--label-smoothing",
        repr(float(cfg.label_smoothing)),
        "--eval-every",
        str(cfg.eval_every),
    ]
    if cfg.threads:
        args += ["--threads", str(cfg.threads)]
    if cfg.device != "auto":
        args += ["--device", cfg.device]
    if precision is not None:  # the one used, so that the command repeats it on any CPU
        args += ["--precision", precision]
    return "python -m mnist_models " + shlex.join(args)


def metadata(
    result: TrainResult, report: Report, source: str, title: str | None = None, **fields: Any
) -> dict[str, Any]:
    """The metadata of a freshly trained model, the same from the command line and the app.

    report: the model on all 10,000 test images; source: "cli" or "app"; fields: what
    only some runs have (the app's job id; a fine-tuned run's start and extra images).
    """
    cfg = result.config
    tuned, extra_images = "started_from" in fields, fields.get("extra_images", 0)
    return {
        "title": title or run_title(cfg, tuned, extra_images),
        "train_config": asdict(cfg),
        "test_accuracy": report.accuracy,
        "per_class_accuracy": report.per_class,
        "confusion_matrix": report.confusion,
        "train_seconds": round(result.train_seconds, 2),
        "wall_seconds": round(result.wall_seconds, 2),
        "parameters": count_parameters(result.model),
        "history": [asdict(h) for h in result.history],
        "device": result.device,
        "precision": result.precision,
        "source": source,
        "command": command_line(cfg, result.precision),
        **fields,
    }


def fit(
    cfg: TrainConfig,
    *,
    start: str | os.PathLike | None = None,
    extra: tuple[torch.Tensor, torch.Tensor] | None = None,
    oversample: int = 1,
    train_split: mdata.Split | None = None,
    test_split: mdata.Split | None = None,
    monitor: mdata.Split | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_evaluating: Callable[[], None] | None = None,
    evaluate_on_test: bool = True,
    source: str = "cli",
    title: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train cfg, evaluate on every test image and build the metadata.

    start: a checkpoint to fine-tune (its weights and arguments; it must be a cfg.model
    network). extra: (uint8 images (N, 28, 28), labels 0-9) mixed into the MNIST subset,
    each `oversample` times an epoch. monitor: the images the per-epoch test accuracy is
    measured on (default: the whole test split). on_evaluating: called once training is
    done, before the final evaluation. evaluate_on_test=False skips that evaluation (the
    learning curves need only the last epoch's accuracy): no report, no metadata.
    source, title and fields (what only some callers record) go into the metadata.
    Raises ValueError for bad settings, checkpoint.CheckpointError for an unreadable
    start, and train's Cancelled and Diverged.
    """
    cfg = cfg.resolved()
    state, arch_kwargs, origin = None, {}, {}
    if start is not None:
        model, meta = checkpoint.load(start)
        if meta["architecture"] != cfg.model:
            have, want = networks.get(meta["architecture"]).name, networks.get(cfg.model).name
            raise ValueError(
                f"{start} holds {have} weights, not {want} ones: fine-tuning needs the same network"
            )
        state, arch_kwargs = model.state_dict(), dict(meta.get("arch_kwargs") or {})
        origin["started_from"] = {"sha256": meta["sha256"], "title": meta.get("title", "")}
    if extra is not None:
        extra = check_extra(extra)
        origin["extra_images"] = len(extra[1])
        origin["oversample"] = oversample
    train_split = train_split or mdata.load_split("train")
    test_split = test_split or mdata.load_split("test")
    result = train(
        cfg,
        on_progress=on_progress,
        should_stop=should_stop,
        train_split=train_split,
        test_split=monitor or test_split,
        start=state,
        arch_kwargs=arch_kwargs,
        extra=extra,
        oversample=oversample,
    )
    if not evaluate_on_test:
        return FitResult(result, arch_kwargs, None, 0.0, None)
    if on_evaluating is not None:
        on_evaluating()
    t0 = time.perf_counter()
    report = evaluate(
        result.model,
        test_split.images,
        test_split.labels,
        memory_format=networks.get(cfg.model).memory_format,
        should_stop=should_stop,
        batch_size=networks.get(cfg.model).eval_batch,
    )
    eval_seconds = time.perf_counter() - t0
    meta = metadata(result, report, source=source, title=title, **origin, **(fields or {}))
    if origin:  # the command trains on MNIST alone, from scratch: it would not reproduce this
        del meta["command"]
    return FitResult(result, arch_kwargs, report, eval_seconds, meta)
