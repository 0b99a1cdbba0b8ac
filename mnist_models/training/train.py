"""One training loop for every network: progress and cancel hooks, a history.

``train`` starts from a fresh model or from given weights (fine-tuning), on a subset
of MNIST with optional extra images mixed in. ``pipeline.fit`` is what callers use:
it wraps this loop with the final evaluation and the checkpoint metadata.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnist_models import data as mdata
from mnist_models.cpu import PRECISIONS, cpu_flags, training_precision
from mnist_models.drawings.drawsets import redrawn
from mnist_models.nets import networks
from mnist_models.nets.evaluate import Cancelled
from mnist_models.nets.evaluate import accuracy as eval_accuracy
from mnist_models.training import settings
from mnist_models.training.augment import STYLES
from mnist_models.training.batches import batches as epoch_batches

__all__ = [
    "Cancelled",
    "Diverged",
    "EpochStats",
    "Progress",
    "TrainConfig",
    "TrainResult",
    "defaults",
    "pick_device",
    "run_title",
    "train",
]

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("onecycle", "constant")


def defaults(model: str, subset: int) -> dict[str, Any]:
    """The network's training defaults for `subset` images (from the network table)."""
    return networks.get(model).training_defaults(subset)


class Diverged(ArithmeticError):
    """Raised out of train() when the loss stops being a finite number (nothing is kept)."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved into checkpoint metadata)."""

    # Numbers' defaults and bounds: the settings table (settings.py).
    model: str = "cnn"
    subset: int = settings.default("subset")
    first: bool = False  # the first N images (as in the blog) instead of a balanced sample
    epochs: int = settings.default("epochs")
    batch_size: int | None = None  # None: the model's default
    optimizer: str | None = None
    lr: float | None = None  # peak learning rate of the one-cycle schedule
    schedule: str = "onecycle"  # or "constant"
    weight_decay: float = settings.default("weight_decay")
    label_smoothing: float | None = None  # None: the model's default
    augment: bool = False
    augment_style: str = "jitter"  # a key of augment.STYLES: "jitter" or "drawn"
    seed: int = settings.default("seed")
    eval_every: int = settings.default("eval_every")  # test accuracy every k epochs (0: at the end)
    threads: int | None = None  # None: all cores
    device: str = "auto"
    # "auto": bf16 autocast of the forward pass where the network's entry in the table
    # allows it on this CPU (networks.Network.auto_bf16), the CPU computes bf16 natively
    # and it measures faster (cpu.training_precision), else fp32; or "fp32" / "bf16".
    precision: str = "auto"

    def resolved(self) -> TrainConfig:
        """A copy with every None filled by the model's default, after validation."""
        networks.get(self.model)  # ValueError naming the choices
        for name in ("subset", "epochs", "seed", "eval_every", "weight_decay"):
            settings.get(name).check(getattr(self, name))
        for name in ("lr", "batch_size", "threads", "label_smoothing"):
            if getattr(self, name) is not None:  # None: the network's default (or all cores)
                settings.get(name).check(getattr(self, name))
        d = defaults(self.model, self.subset)
        out = TrainConfig(**asdict(self))
        out.batch_size = self.batch_size or d["batch_size"]
        out.optimizer = self.optimizer or d["optimizer"]
        out.lr = self.lr or d["lr"]
        if self.label_smoothing is None:
            out.label_smoothing = d["label_smoothing"]
        if out.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {out.optimizer!r}; choose from {OPTIMIZERS}")
        if out.augment_style not in STYLES:
            raise ValueError(
                f"unknown augmentation {out.augment_style!r}; choose from {', '.join(STYLES)}"
            )
        if out.precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {out.precision!r}; choose from {', '.join(PRECISIONS)}"
            )
        if out.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {out.schedule!r}")
        return out


@dataclass
class Progress:
    """What the progress callback receives, after every batch."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    loss: float  # running mean over the epoch
    accuracy: float  # running train accuracy over the epoch
    elapsed: float  # seconds since training started
    epoch_done: bool = False
    history: list = field(default_factory=list)  # EpochStats so far


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    seconds: float  # cumulative training seconds at the end of the epoch


@dataclass
class TrainResult:
    model: nn.Module
    config: TrainConfig
    history: list[EpochStats]
    train_seconds: float  # optimisation only, without evaluation
    wall_seconds: float
    test_accuracy: float
    device: str
    precision: str = "fp32"  # the one used: "fp32" or "bf16" (autocast of the forward pass)


def run_title(cfg: TrainConfig, fine_tuned: bool = False, extra_images: int = 0) -> str:
    """A human name for a run, e.g. 'ConvNet (1,000 first images, 100 epochs, augmented)'."""
    how = "first" if cfg.first else "balanced"
    more = f" + {extra_images:,} extra" if extra_images else ""
    aug = ""
    if cfg.augment:
        aug = (
            ", augmented" if cfg.augment_style == "jitter" else f", augmented ({cfg.augment_style})"
        )
    tuned = ", fine-tuned" if fine_tuned else ""
    name = networks.get(cfg.model).name
    return f"{name} ({cfg.subset:,} {how} images{more}, {cfg.epochs} epochs{aug}{tuned})"


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _optimizer(cfg: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    kw = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    # The fused Adam updates each tensor in one pass instead of ~10: about 15%
    # of an MLP step on the CPU (1.5M parameters, small batches).
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **kw, **fused)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, **kw, **fused)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, **kw)
    return torch.optim.SGD(params, momentum=0.9, nesterov=True, **kw)


def check_extra(extra: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Extra training data as (uint8 (N, 28, 28), int64 (N,) labels 0-9); ValueError if not."""
    try:
        images, labels = extra
    except (TypeError, ValueError):
        raise ValueError("extra training data must be a pair (images, labels)") from None
    images, labels = torch.as_tensor(images), torch.as_tensor(labels)
    if images.dtype != torch.uint8 or images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise ValueError(
            "extra training images must be uint8 of shape (N, 28, 28), "
            f"not {str(images.dtype).removeprefix('torch.')} {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise ValueError("extra training data has no images")
    whole = not labels.dtype.is_floating_point and labels.dtype != torch.bool
    if labels.shape != (len(images),) or not whole:
        raise ValueError(
            f"extra training data needs one whole-number label for each of its {len(images)} images"
        )
    if int(labels.min()) < 0 or int(labels.max()) > 9:
        raise ValueError("extra training labels must be digits from 0 to 9")
    return images, labels.long()


def train(
    config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    train_split: mdata.Split | None = None,
    test_split: mdata.Split | None = None,
    *,
    start: Mapping[str, torch.Tensor] | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    extra: tuple[torch.Tensor, torch.Tensor] | None = None,
    oversample: int = 1,
) -> TrainResult:
    """Train config.model; raises Cancelled if should_stop() turns true between batches.

    start: a state_dict to begin from instead of a fresh model (fine-tuning; it must fit
    the network built with arch_kwargs). extra: (uint8 images (N, 28, 28), labels) mixed
    into the MNIST subset, each image `oversample` times per epoch.
    """
    cfg = config.resolved()
    settings.get("oversample").check(oversample)
    if extra is not None:
        extra = check_extra(extra)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    requested = cfg.precision
    if requested == "auto" and not networks.get(cfg.model).auto_bf16_on(cpu_flags()):
        requested = "fp32"  # auto's bf16 only where it was measured to gain (the table)
    precision = training_precision(requested, device.type)
    # Only the forward pass runs in bf16 (matmuls and convolutions; autocast keeps
    # reductions in fp32); the loss, the gradients' accumulation and the weights stay fp32.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    train_split = train_split or mdata.load_split("train")
    test_split = test_split or mdata.load_split("test")
    if cfg.subset > len(train_split):
        raise ValueError(f"subset {cfg.subset} is larger than the training set")

    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = mdata.select_subset(train_split.labels, cfg.subset, cfg.first, cfg.seed)
    images, labels = train_split.images[idx], train_split.labels[idx]
    style = STYLES[cfg.augment_style] if cfg.augment else None
    drawn = None
    if style is not None and style.redrawn > 0:
        drawn = redrawn(train_split.images, idx)
    if extra is not None:
        more = extra[0].repeat(oversample, 1, 1)
        images = torch.cat([images, more])
        labels = torch.cat([labels, extra[1].repeat(oversample)])
        if drawn is not None:  # extra images have no redrawn copy: they stand for their own
            drawn = torch.cat([drawn, more])
    x = mdata.to_float(images).to(device)  # (n, 1, 28, 28)
    y = labels.to(device)
    x_drawn = None if drawn is None else mdata.to_float(drawn).to(device)
    x_test = mdata.to_float(test_split.images).to(device)
    y_test = test_split.labels.to(device)

    net = networks.get(cfg.model)
    model = net.build(**(arch_kwargs or {}))  # after manual_seed: the same seed, the same start
    if start is not None:
        try:
            model.load_state_dict(start, strict=True)
        except (RuntimeError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"the starting weights do not fit the {net.name} ({first})") from None
    model = model.to(device)
    fmt = net.memory_format
    model = model.to(memory_format=fmt)
    opt = _optimizer(cfg, model.parameters(), device)
    n = len(y)
    bs = min(cfg.batch_size, n)
    batches = (n + bs - 1) // bs
    sched = None
    if cfg.schedule == "onecycle":
        total = cfg.epochs * batches
        # OneCycleLR divides by zero when pct_start * total_steps == 1 (4 steps).
        pct = 0.3 if total == 4 else 0.25
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=pct
        )

    history: list[EpochStats] = []
    start = time.perf_counter()
    eval_time = 0.0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=g).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        now = None if style is None else style.at_epoch(epoch, cfg.epochs)
        for b, (xb, yb) in enumerate(epoch_batches(perm, bs, x, y, now, x_drawn, g)):
            if should_stop is not None and should_stop():
                raise Cancelled()
            xb = xb.contiguous(memory_format=fmt)
            with autocast:
                logits = model(xb)
            logits = logits.float()
            loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            running = float(loss_sum) / seen
            # A non-finite loss never comes back: stop now rather than train (and
            # save) a model of NaNs. The check costs a sync that progress needs anyway.
            if not math.isfinite(running):
                raise Diverged(
                    f"the loss became {running} at epoch {epoch}, batch {b + 1}: "
                    "training stopped and nothing was kept (try a lower learning "
                    "rate)"
                )
            if on_progress is not None:
                on_progress(
                    Progress(
                        epoch,
                        cfg.epochs,
                        b + 1,
                        batches,
                        running,
                        int(correct) / seen,
                        time.perf_counter() - start,
                    )
                )
        test_acc = None
        last = epoch == cfg.epochs
        if last or (cfg.eval_every and epoch % cfg.eval_every == 0):
            t0 = time.perf_counter()
            test_acc = eval_accuracy(model, x_test, y_test, fmt, net.eval_batch)
            eval_time += time.perf_counter() - t0
        stats = EpochStats(
            epoch,
            float(loss_sum) / seen,
            int(correct) / seen,
            test_acc,
            time.perf_counter() - start - eval_time,
        )
        history.append(stats)
        if on_progress is not None:
            on_progress(
                Progress(
                    epoch,
                    cfg.epochs,
                    batches,
                    batches,
                    stats.loss,
                    stats.train_accuracy,
                    time.perf_counter() - start,
                    epoch_done=True,
                    history=list(history),
                )
            )
    wall = time.perf_counter() - start
    model.eval()
    model = model.to("cpu", memory_format=torch.contiguous_format)
    return TrainResult(
        model,
        cfg,
        history,
        wall - eval_time,
        wall,
        history[-1].test_accuracy,
        str(device),
        precision,
    )
