"""Teaching a network a room's handwriting: fine-tune a checkpoint on MNIST plus the
room's training drawings (``roomdata``), and measure it before and after.

Every run goes through ``pipeline.fit`` (start= the checkpoint, extra= the room's
training drawings, oversample= from the mix), so it trains as every other run does.
The figures: accuracy on the room's held-out drawings (people the network was not
taught on, see ``roomdata``) and on all 10,000 MNIST test images, before and after,
and which held-out drawings changed answer (fixed: wrong before, right after; broken:
the other way). The command line (``train --room`` / ``--extra``), the app's teach
job and bench/bench_teach.py all call :func:`teach`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from mnist_models import data as mdata
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.evaluate import logits
from mnist_models.training import pipeline, settings
from mnist_models.training.roomdata import RoomData
from mnist_models.training.train import Progress, TrainConfig

# The defaults, chosen by bench/bench_teach.py (docs/training.md: Teaching a room):
# MNIST images mixed in (so little is forgotten), passes, the share of each batch
# that is room drawings, and the fine-tuning peak learning rate as a fraction of
# the network's own.
SUBSET = 3_000
EPOCHS = 3
MIX = 0.15
LR_SCALE = 0.3
MIX_RANGE = (0.01, 0.9)
MONITOR = 1_000  # test images of the curve's one point (the final figure uses all)


@dataclass
class TeachJob:
    """What a teach job sends its training process: the room's data, the checkpoint each
    run starts from (in the order of the job's configs), and the mix."""

    data: RoomData
    starts: list[str]
    mix: float = MIX
    room: str = ""  # the room's code, for the pages

    def estimate_config(self, cfg: TrainConfig) -> TrainConfig:
        """cfg with the images an epoch really has (MNIST and the oversampled room), for
        the duration estimate."""
        k = oversample_for(cfg.subset, len(self.data.train_ids), self.mix)
        total = cfg.subset + k * len(self.data.train_ids)
        return replace(cfg, subset=min(total, mdata.SIZES["train"]))


def check_mix(mix: float) -> float:
    """The share of each batch that is room drawings; ValueError outside MIX_RANGE."""
    lo, hi = MIX_RANGE
    if isinstance(mix, bool) or not isinstance(mix, (int, float)) or not lo <= mix <= hi:
        raise ValueError(f"the mix must be a share from {lo} to {hi}, not {mix!r}")
    return float(mix)


def oversample_for(subset: int, room_images: int, mix: float) -> int:
    """How many times each room drawing appears in an epoch so that about `mix` of the
    images (and so of each batch, on average) are room drawings; within the settings'
    bounds (the effective share is reported as `mix_used`)."""
    mix = check_mix(mix)
    want = mix * subset / ((1.0 - mix) * max(1, room_images))
    bounds = settings.get("oversample")
    return int(min(bounds.hi, max(bounds.lo, round(want))))


def mix_used(subset: int, room_images: int, oversample: int) -> float:
    """The share of an epoch's images that are room drawings."""
    room = room_images * oversample
    return room / (subset + room)


def config(
    model: str,
    start: str | os.PathLike | None = None,
    subset: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    lr: float | None = None,
    threads: int | None = None,
    augment: bool = True,
    lr_scale: float | None = None,
    **more: Any,
) -> TrainConfig:
    """The fine-tuning run's settings. From the starting checkpoint's own training (else
    the network's defaults): its label smoothing (a change would reshape every answer's
    confidence) and LR_SCALE (or lr_scale) of its peak learning rate, a gentler
    fine-tune; lr given overrides it. Jitter augmentation (room drawings are already
    drawn; the redrawn MNIST style would cost a redraw of the subset) and a curve point
    each epoch. subset and epochs: SUBSET and EPOCHS unless given."""
    subset = SUBSET if subset is None else subset
    epochs = EPOCHS if epochs is None else epochs
    d = networks.get(model).training_defaults(subset)
    own: dict[str, Any] = {}
    if start is not None:
        try:
            own = checkpoint.read_metadata(start).get("train_config") or {}
        except checkpoint.CheckpointError:
            own = {}  # teach() reports the unreadable checkpoint
    base_lr = own.get("lr") if isinstance(own.get("lr"), (int, float)) else d["lr"]
    smoothing = own.get("label_smoothing")
    if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        smoothing = d["label_smoothing"]
    return TrainConfig(
        model=model,
        subset=subset,
        epochs=epochs,
        seed=seed,
        lr=lr if lr is not None else base_lr * (LR_SCALE if lr_scale is None else lr_scale),
        label_smoothing=float(smoothing),
        augment=augment,
        augment_style="jitter",
        threads=threads,
        eval_every=1,
        **more,
    )


def predictions(model: torch.nn.Module, arch: str, images: torch.Tensor) -> torch.Tensor:
    """The network's answers (int64) for uint8 (N, 28, 28) images."""
    if len(images) == 0:
        return torch.zeros(0, dtype=torch.int64)
    net = networks.get(arch)
    return logits(model, mdata.to_float(images), net.eval_batch, net.memory_format).argmax(1)


def _accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float | None:
    return float((pred == labels).float().mean()) if len(labels) else None


@dataclass
class Taught:
    """One network taught a room: the figures before and after, and the new model."""

    arch: str
    started_from: dict[str, str]  # {"sha256", "title"} of the starting checkpoint
    oversample: int
    mix: float  # the share of each epoch's images that were room drawings
    held_before: float | None  # accuracy on the held-out drawings (None: none held out)
    held_after: float | None
    test_before: float  # all MNIST test images
    test_after: float
    fixed: list[int]  # held-out drawing ids: wrong before, right after
    broken: list[int]  # right before, wrong after
    answers: dict[int, tuple[int, int]]  # held-out id -> (answer before, after)
    train_seconds: float
    fitted: pipeline.FitResult = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (JSON, the job's status, the metadata)."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "model": self.arch,
            "started_from": dict(self.started_from),
            "oversample": self.oversample,
            "mix": round(self.mix, 3),
            "held_before": r(self.held_before),
            "held_after": r(self.held_after),
            "test_before": r(self.test_before),
            "test_after": r(self.test_after),
            "fixed": list(self.fixed),
            "broken": list(self.broken),
            "train_seconds": round(self.train_seconds, 2),
            "held_out": len(self.answers),
        }


def teach(
    data: RoomData,
    start: str | os.PathLike,
    cfg: TrainConfig,
    mix: float = MIX,
    *,
    train_split: mdata.Split | None = None,
    test_split: mdata.Split | None = None,
    monitor: mdata.Split | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_evaluating: Callable[[], None] | None = None,
    source: str = "cli",
    title: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Taught:
    """Fine-tune the checkpoint at `start` (a cfg.model network) on cfg.subset MNIST
    images plus the room's training drawings, about `mix` of every batch; measure it on
    the held-out drawings and all MNIST test images, before and after.

    Raises ValueError for bad settings or a checkpoint of another network,
    checkpoint.CheckpointError for an unreadable one, and the pipeline's Cancelled and
    Diverged.
    """
    cfg = cfg.resolved()
    mix = check_mix(mix)
    before_model, meta = checkpoint.load(start)
    if meta["architecture"] != cfg.model:
        have, want = networks.get(meta["architecture"]).name, networks.get(cfg.model).name
        raise ValueError(f"{start} holds {have} weights, not {want} ones")
    train_split = train_split or mdata.load_split("train")
    test_split = test_split or mdata.load_split("test")
    if monitor is None:  # the curve's points: a sample will do (the final figure: all)
        pick = mdata.select_subset(test_split.labels, MONITOR, first=False, seed=0)
        monitor = mdata.Split(test_split.images[pick], test_split.labels[pick])
    before = predictions(before_model, cfg.model, data.held_images)
    net = networks.get(cfg.model)
    test_x = mdata.to_float(test_split.images)
    test_pred = logits(before_model, test_x, net.eval_batch, net.memory_format)
    test_before = float((test_pred.argmax(1) == test_split.labels).float().mean())
    del before_model, test_pred
    k = oversample_for(cfg.subset, len(data.train_ids), mix)
    room = {"room": data.summary(), "mix": round(mix_used(cfg.subset, len(data.train_ids), k), 3)}
    fitted = pipeline.fit(
        cfg,
        start=start,
        extra=(data.train_images, data.train_labels),
        oversample=k,
        train_split=train_split,
        test_split=test_split,
        monitor=monitor,
        on_progress=on_progress,
        should_stop=should_stop,
        on_evaluating=on_evaluating,
        source=source,
        title=title or f"{networks.get(cfg.model).name} taught {data.source}",
        fields={"taught": room, **(fields or {})},
    )
    after = predictions(fitted.model, cfg.model, data.held_images)
    labels = data.held_labels
    ok_before, ok_after = before == labels, after == labels
    ids = data.held_ids
    taught = Taught(
        arch=cfg.model,
        started_from={"sha256": meta["sha256"], "title": meta.get("title", "")},
        oversample=k,
        mix=mix_used(cfg.subset, len(data.train_ids), k),
        held_before=_accuracy(before, labels),
        held_after=_accuracy(after, labels),
        test_before=test_before,
        test_after=fitted.report.accuracy,
        fixed=[i for i, b, a in zip(ids, ok_before, ok_after) if a and not b],
        broken=[i for i, b, a in zip(ids, ok_before, ok_after) if b and not a],
        answers={i: (int(b), int(a)) for i, b, a in zip(ids, before, after)},
        train_seconds=fitted.train.train_seconds,
        fitted=fitted,
    )
    fitted.metadata["taught"] = {**room, **taught.summary()}
    return taught
