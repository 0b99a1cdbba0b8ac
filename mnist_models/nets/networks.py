"""The table of networks: everything the rest of the code needs to know about each one.

Adding a network is one entry here (see ``register``): its key, display name,
colour, class, memory format, training defaults, speed priors, the bounds of its
constructor arguments, the layers the not-a-digit check reads and whether it has
convolutional feature maps to show. Training, evaluation, checkpoints, the version
registry, reading, the command line and the pages all read this table; no other
module names a network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mnist_models.cpu import NATIVE_BF16_FLAGS
from mnist_models.nets.models import MLP, ConvNet
from mnist_models.text import plain

# From this many training images on, a network's ``large`` overrides apply.
LARGE_SUBSET = 20_000


@dataclass(frozen=True)
class Network:
    """One network the app can train, show and compare."""

    key: str  # "mlp": file names, metadata, the command line
    name: str  # "MLP": what people read
    colour: str  # one colour per network on every page and chart
    cls: type[nn.Module]
    channels_last: bool  # the CPU convolution kernels skip layout reorders (~1.5x for convs)
    # Training defaults (optimizer, lr, batch_size, label_smoothing), chosen by measurement.
    defaults: Mapping[str, Any]
    large: Mapping[str, Any]  # overrides from LARGE_SUBSET training images on
    # Speed priors for duration estimates, images per second in the training process:
    # training (plain, augmented) and evaluation. Replaced by observed rates.
    train_rate: tuple[float, float]
    eval_rate: float
    # Test images per forward pass when training evaluates (the curves, the final
    # figure, calibration): the fastest batch measured for this network (evaluate.py).
    eval_batch: int = 1_000
    # A first run's training pace against the calibration (training/estimates.py) before
    # this machine has seen one: the page's refreshes share the cores with training, and
    # a short calibration epoch has no per-epoch costs.
    calibration_factor: float = 0.85
    # Inclusive bounds of each constructor argument, checked before anything is
    # allocated (a checkpoint's metadata may ask for any size).
    kwarg_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    shipped: str = ""  # the version id used when nothing else is chosen
    # The not-a-digit check's probe reads the inputs of these nn.Linear layers, in
    # forward order (reading/ood.py); () for a network the check cannot read.
    ood_layers: tuple[int, ...] = ()
    # A first layer of convolutions whose maps the pages can show (reading/saliency.py).
    feature_maps: bool = False
    # The CPU flags with which --precision auto may train it in bf16 (where the CPU then
    # computes bf16 natively and a bf16 product measures faster): only the kinds of CPU
    # where bf16 was measured faster at the same accuracy (docs/training.md, Precision).
    auto_bf16: frozenset[str] = frozenset()

    def auto_bf16_on(self, flags: frozenset[str]) -> bool:
        """Whether --precision auto may take bf16 for it on a CPU with these flags."""
        return bool(self.auto_bf16 & flags)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def training_defaults(self, subset: int) -> dict[str, Any]:
        """The defaults for training on `subset` images ("large" applied from LARGE_SUBSET)."""
        return {**self.defaults, **(self.large if subset >= LARGE_SUBSET else {})}

    def check_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments checked against kwarg_bounds; ValueError if out of bounds."""
        if not isinstance(kwargs, Mapping):
            raise ValueError("architecture arguments must be an object")
        out = {}
        for k, v in kwargs.items():
            if k not in self.kwarg_bounds:
                raise ValueError(f"{self.name} takes no argument {_short(k)}")
            lo, hi = self.kwarg_bounds[k]
            integral = isinstance(lo, int) and isinstance(hi, int)
            ok_type = isinstance(v, int) if integral else isinstance(v, (int, float))
            if isinstance(v, bool) or not ok_type or not lo <= v <= hi:
                kind = "a whole number" if integral else "a number"
                raise ValueError(
                    f"{self.name} argument {k!r} must be {kind} from {lo} to {hi}, not {_short(v)}"
                )
            out[k] = v
        return out

    def build(self, **kwargs: Any) -> nn.Module:
        """A fresh model (kwargs checked against the bounds first)."""
        return self.cls(**self.check_kwargs(kwargs))


def _short(value: Any) -> str:
    """A value as Python writes it, cut to one short line (a file may hold any value)."""
    return plain(repr(value), 40)


NETWORKS: dict[str, Network] = {}


def register(net: Network) -> Network:
    """Add a network to the table (replacing one with the same key)."""
    NETWORKS[net.key] = net
    return net


def get(key: str) -> Network:
    """A network by key; ValueError naming the choices for an unknown one."""
    try:
        return NETWORKS[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {key!r}; choose from {', '.join(NETWORKS)}") from None


def unregister(key: str) -> None:
    """Remove a network from the table (tests that register their own undo it)."""
    NETWORKS.pop(key, None)


def keys() -> tuple[str, ...]:
    """The registered networks' keys, in table order."""
    return tuple(NETWORKS)


def build(key: str, **kwargs: Any) -> nn.Module:
    """A fresh model by key ('mlp', 'cnn', ...); ValueError for an unknown key or bad kwargs."""
    return get(key).build(**kwargs)


class _ShippedIds(Mapping[str, str]):
    """key -> shipped version id ("" for a network with none), read from the table each time."""

    def __getitem__(self, key: str) -> str:
        return NETWORKS[key].shipped

    def __iter__(self) -> Iterator[str]:
        return iter(list(NETWORKS))

    def __len__(self) -> int:
        return len(NETWORKS)


SHIPPED_IDS: Mapping[str, str] = _ShippedIds()


# Training defaults, measured (README: Shipped weights). The ConvNet's label
# smoothing and higher peak rate lift the blog's experiment (first 1,000 images,
# 100 epochs, augmented) from ~97.7% to ~98.1% (3 seeds). From LARGE_SUBSET on,
# the MLP's batches of 512 train ~1.1-1.3x faster per sample than 128 and as
# accurately; the ConvNet goes back to 3e-3 without smoothing, which reached
# 99.50% on all 60,000 images after 40 augmented epochs (99.20% with 1e-2).
# Speed priors: a training job runs in its own process on every core (jobs.py). On
# a quiet 2-core AMD EPYC that process trained the MLP at ~18,000 images/s and the
# ConvNet at ~14,500 (12,800 augmented), and evaluated at ~68,000 and ~10,700; the
# priors are about 60% of that, for a machine also serving pages. Estimates use
# the rates observed on this machine once a job has run (estimates.py).
register(
    Network(
        key="mlp",
        name="MLP",
        colour="#1f77b4",
        cls=MLP,
        channels_last=False,
        defaults={"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "label_smoothing": 0.0},
        large={"lr": 2e-3, "batch_size": 512},
        train_rate=(11_000.0, 11_000.0),
        eval_rate=40_000.0,
        # Quiet 2-core machine, runs of 1,000 images from the page: 0.51-0.56x the
        # calibration (an epoch of 8 batches is a few milliseconds of products and as
        # much again of shuffling, augmenting and the curve's points).
        calibration_factor=0.55,
        kwarg_bounds={"hidden": (1, 4096), "dropout": (0.0, 0.95)},
        shipped="shipped/mlp",
        ood_layers=(1, 2),  # both 900-unit hidden layers
        # 2.9x the samples a second in bf16 (AVX-512 bf16), 2.4x with AMX; the same accuracy.
        auto_bf16=NATIVE_BF16_FLAGS,
    )
)
register(
    Network(
        key="cnn",
        name="ConvNet",
        colour="#d62728",
        cls=ConvNet,
        channels_last=True,
        defaults={"optimizer": "adam", "lr": 1e-2, "batch_size": 128, "label_smoothing": 0.1},
        large={"lr": 3e-3, "label_smoothing": 0.0},
        # Augmented in blocks of batches (training/batches.py), the jitter costs it
        # little: 9,600-10,200 images/s against 8,800-9,700 plain on a quiet machine.
        train_rate=(8_500.0, 8_500.0),
        eval_rate=6_500.0,
        # Its runs from the page: 0.86-1.21x the calibration (quiet 2-core machine, 6).
        calibration_factor=1.0,
        # Quiet 2-core AMD EPYC, 2 threads, 10,000 images: 12,700 images/s at 256 a
        # batch, 8,700 at 500, 6,200 at 1,000 (the activations of a big batch leave
        # the cache); the MLP is about even from 256 to 2,000 (50,000-56,000).
        eval_batch=256,
        kwarg_bounds={"c1": (1, 256), "c2": (1, 256), "hidden": (1, 4096), "dropout": (0.0, 0.95)},
        shipped="shipped/cnn",
        ood_layers=(0, 1),  # the 1,568 convolutional features and the 80 hidden units
        feature_maps=True,
        # With AMX tiles, bf16 trains it 1.5x faster alone and about as fast on a busy machine;
        # with AVX-512 bf16 alone, 1.2-1.3x faster alone but 2x slower on a busy machine.
        auto_bf16=frozenset({"amx_bf16"}),
    )
)
