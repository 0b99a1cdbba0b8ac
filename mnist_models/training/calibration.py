"""Are the networks' probabilities honest? ECE, NLL, Brier, reliability bins, temperature.

Temperature scaling divides the logits by one number T fitted to minimise the
negative log-likelihood on data the test set never contributes to. The
shipped models were trained on all 60,000 training images, so no clean
held-out set exists for them; see `held_out` for what is used instead.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.nets import checkpoint
from mnist_models.nets.evaluate import logits as model_logits
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.training.augment import random_affine

BINS = 15
HELD_OUT = 10_000  # the last images of the training set
HELD_OUT_SEED = 1234
MIN_GAIN = 0.01  # store T only if it lowers held-out NLL by at least 1%
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return torch.softmax(logits.double() / temperature, dim=1)


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels (nats)."""
    return float(F.cross_entropy(logits.double() / temperature, labels.long()))


def brier(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over images of the squared distance between the probabilities and the one-hot label."""
    onehot = F.one_hot(labels.long(), probs.shape[1]).to(probs.dtype)
    return float(((probs - onehot) ** 2).sum(1).mean())


@dataclass
class Bin:
    """One confidence bin of a reliability diagram."""

    low: float
    high: float
    count: int
    confidence: float  # mean top probability in the bin (nan if empty)
    accuracy: float  # fraction right in the bin (nan if empty)


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> list[Bin]:
    """Equal-width bins of top probability over (0, 1], with their confidence and accuracy."""
    conf, pred = probs.max(1)
    right = (pred == labels).double()
    # Bin b holds confidences in (b/bins, (b+1)/bins]; the first one also holds 0.
    idx = (torch.ceil(conf.double() * bins).long() - 1).clamp(0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        out.append(
            Bin(
                b / bins,
                (b + 1) / bins,
                n,
                float(conf[sel].double().mean()) if n else math.nan,
                float(right[sel].mean()) if n else math.nan,
            )
        )
    return out


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> float:
    """Expected calibration error: bin-size-weighted mean |accuracy - confidence|."""
    total = len(labels)
    return sum(
        b.count / total * abs(b.accuracy - b.confidence)
        for b in reliability(probs, labels, bins)
        if b.count
    )


def fit_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    low: float = 0.05,
    high: float = 20.0,
    steps: int = 80,
) -> float:
    """The T minimising NLL(logits / T): golden-section search on log T (NLL is unimodal in it)."""
    a, b = math.log(low), math.log(high)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


@dataclass
class Figures:
    """Calibration figures of one model on one set at one temperature."""

    temperature: float
    count: int
    accuracy: float
    ece: float
    nll: float
    brier: float


def figures(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, bins: int = BINS
) -> Figures:
    """Accuracy, ECE, NLL and Brier score at a temperature."""
    p = _probs(logits, temperature)
    return Figures(
        temperature,
        len(labels),
        float((p.argmax(1) == labels).double().mean()),
        ece(p, labels, bins),
        nll(logits, labels, temperature),
        brier(p, labels),
    )


def threshold_table(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, thresholds=THRESHOLDS
) -> list[dict[str, float]]:
    """For each threshold: share of answers below it ("not sure"), error rate at or above it."""
    conf, pred = _probs(logits, temperature).max(1)
    wrong = pred != labels
    rows = []
    for t in thresholds:
        sure = conf >= t
        n_sure = int(sure.sum())
        rows.append(
            {
                "threshold": t,
                "not_sure": 1 - n_sure / len(labels),
                "wrong_when_sure": int((wrong & sure).sum()) / n_sure if n_sure else 0.0,
                "wrong_caught": (int((wrong & ~sure).sum()) / int(wrong.sum()))
                if wrong.any()
                else 1.0,
            }
        )
    return rows


def held_out(
    split: mdata.Split, n: int = HELD_OUT, seed: int = HELD_OUT_SEED, augment: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last n training images, each given one fixed random affine jitter (as in training).

    The shipped models saw these images (un-jittered or with other jitters)
    while training, so this set is not truly held out: a fresh jitter makes
    each one an image the network has not seen, but its confidence on them
    is still likely to be somewhat higher than on the test set.
    """
    x = mdata.to_float(split.images[-n:])
    if augment:
        x = random_affine(x, torch.Generator().manual_seed(seed))
    return x, split.labels[-n:]


def test_logits(model: nn.Module, test: mdata.Split | None = None) -> torch.Tensor:
    """(10000, 10) logits of a model on the MNIST test set."""
    test = test or mdata.load_split("test")
    return model_logits(model, test.images)


def calibrate(
    path: str | os.PathLike, write: bool = True, not_sure_below: float | None = None
) -> dict[str, Any]:
    """Fit T on the held-out set, measure before/after on the test set, store T if it helps."""
    threshold = NOT_SURE_BELOW if not_sure_below is None else not_sure_below
    model, meta = checkpoint.load(path)
    train_split, test = mdata.load_split("train"), mdata.load_split("test")
    xh, yh = held_out(train_split)
    lh = model_logits(model, xh)
    t = fit_temperature(lh, yh)
    lt = test_logits(model, test)
    before, after = figures(lt, test.labels, 1.0), figures(lt, test.labels, t)
    held_before, held_after = figures(lh, yh, 1.0), figures(lh, yh, t)
    # Decided on the held-out set, never the test set; a T that barely moves NLL is not worth
    # storing (it would change the displayed percentages for no measurable gain).
    use = held_after.nll < held_before.nll * (1 - MIN_GAIN)
    used_t = t if use else 1.0
    result = {
        "temperature": round(used_t, 4),
        "fitted_temperature": round(t, 4),
        "method": (
            f"temperature scaling fitted by minimising NLL on the last {HELD_OUT:,} "
            f"training images, each with one random affine jitter (seed {HELD_OUT_SEED})"
            "; the test set was not used for fitting; T is stored only if it lowers "
            f"that set's NLL by at least {MIN_GAIN:.0%}"
        ),
        "held_out": {"before": asdict(held_before), "after": asdict(held_after)},
        "test": {"before": asdict(before), "after": asdict(after)},
        "bins": BINS,
        "not_sure_below": threshold,
        "thresholds": threshold_table(lt, test.labels, used_t),
        "reliability_test": {
            "before": [_finite(asdict(b)) for b in reliability(_probs(lt), test.labels)],
            "after": [_finite(asdict(b)) for b in reliability(_probs(lt, used_t), test.labels)],
        },
    }
    if write:
        write_temperature(
            path,
            used_t,
            {k: v for k, v in result.items() if k not in ("temperature", "reliability_test")},
        )
    return result


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """NaN (an empty bin) -> None, so the dict is valid JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def write_temperature(path: str | os.PathLike, temperature: float, details: dict[str, Any]) -> None:
    """Store T (and how it was found) in the checkpoint's .json; the weights are untouched."""
    meta = checkpoint.read_metadata(path)
    meta["temperature"] = round(temperature, 4)
    meta["calibration"] = details
    text = json.dumps(meta, indent=2, allow_nan=False) + "\n"
    files.atomic_write(checkpoint.meta_path(Path(path)), text.encode())
