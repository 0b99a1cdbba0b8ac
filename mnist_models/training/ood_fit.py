"""Fitting the not-a-digit detector of a checkpoint (``reading/ood.py`` applies it).

The probe is a class-balanced logistic regression on the network's own hidden layers
(its ``ood_layers`` in the network table; the network is frozen, not retrained), with
MNIST training digits, training digits drawn as on the canvas (``drawsets``) and
synthetic non-digits (``nondigits``) as its examples. Its threshold is fitted on
held-out training digits, never on the test set. ``python -m mnist_models ood fit
CHECKPOINT...`` runs it and writes the detectors under ``data/ood/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.drawings import drawsets, nondigits, synth
from mnist_models.nets import networks
from mnist_models.reading import pen
from mnist_models.reading.ood import OOD_DIR, Detector, features, path_for

# Threshold rule (fitted on held-out training digits): flag at most this share of
# MNIST digits, and of each drawn-digit variant.
MAX_FLAG_MNIST = 0.005
MAX_FLAG_DRAWN = 0.015


def layers_of(arch: str) -> tuple[int, ...]:
    """The layers a network's probe reads; ValueError for a network the check cannot read."""
    net = networks.get(arch)
    if not net.ood_layers:
        raise ValueError(
            f"the {net.name} has no layers for the not-a-digit check "
            "(no ood_layers in the network table): no detector can be fitted for it"
        )
    return net.ood_layers


def _fit_probe(
    pos: torch.Tensor, neg: torch.Tensor, l2: float = 1e-2
) -> tuple[torch.Tensor, float]:
    """Class-balanced logistic regression on standardised features; weights in raw units."""
    x = torch.cat([pos, neg]).double()
    y = torch.cat([torch.zeros(len(pos)), torch.ones(len(neg))]).double()
    w = torch.where(y == 1, len(pos) / len(neg), 1.0)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xn = (x - mu) / sd
    lin = nn.Linear(x.shape[1], 1).double()
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(lin(xn)[:, 0], y, weight=w)
        loss = loss + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    # Fold the standardisation into the weights: one dot product at run time.
    weight = (lin.weight[0] / sd).detach()
    bias = float(lin.bias.detach()[0] - (weight * mu).sum())
    return weight.float(), bias


def drawn(images: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
    """The digits drawn in every variant (drawsets.VARIANTS): variant -> (N, 1, 28, 28)."""
    strokes = [synth.digit_strokes(img) for img in images]
    return {
        v: drawsets.build(images, v, seed=seed + i, strokes=strokes)[0]
        for i, v in enumerate(drawsets.VARIANTS)
    }


def nondigit_inputs(n: int, seed: int, kinds: tuple[str, ...] | None = None) -> torch.Tensor:
    """n synthetic non-digits as the page preprocesses drawings: (n, 1, 28, 28)."""
    made = nondigits.make_set(n, seed=seed, kinds=kinds or nondigits.KINDS)
    pres = [pen.from_strokes(s, several=False) for _, s in made]
    return torch.stack([p.tensor()[0] for p in pres if p is not None])


def fit(
    model: nn.Module,
    meta: dict[str, Any],
    n_drawn: int = 1000,
    n_nondigits: int = 4500,
    n_mnist: int = 5000,
    seed: int = 0,
    kinds: tuple[str, ...] | None = None,
    cache: dict | None = None,
) -> Detector:
    """Fit a detector for one checkpoint on training digits and synthetic non-digits.

    Probe examples: n_mnist MNIST training images from the first 50,000, n_drawn
    training digits drawn in every variant (drawsets.VARIANTS), n_nondigits
    non-digits. Threshold: from MNIST training images 50,000-59,999 and n_drawn
    other drawn training digits, none of them seen by the probe. `kinds` limits the
    non-digit kinds the probe sees (to measure how it does on kinds it has not seen);
    pass the same `cache` dict to several fits to draw the digits only once.
    ValueError for a network without ood_layers.
    """
    arch = meta["architecture"]
    layers = layers_of(arch)
    train = mdata.load_split("train")
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(50_000, generator=g)
    fit_mnist = train.images[pick[:n_mnist]].float().div(255).unsqueeze(1)
    cache = {} if cache is None else cache
    key = (n_mnist, n_drawn, seed)
    if key not in cache:
        cache[key] = (
            drawn(train.images[pick[n_mnist : n_mnist + n_drawn]].numpy(), seed),
            drawn(train.images[50_000 : 50_000 + n_drawn].numpy(), seed + 100),
        )
    fit_drawn, held_drawn = cache[key]
    held_mnist = train.images[50_000:].float().div(255).unsqueeze(1)

    def feats(x: torch.Tensor) -> torch.Tensor:
        return (
            torch.cat([features(model, x[i : i + 2000], layers)[0] for i in range(0, len(x), 2000)])
            if len(x)
            else torch.zeros(0)
        )

    pos = torch.cat([feats(fit_mnist), *(feats(x) for x in fit_drawn.values())])
    neg = feats(nondigit_inputs(n_nondigits, seed=seed + 1000, kinds=kinds))
    weight, bias = _fit_probe(pos, neg)

    def scores(x: torch.Tensor) -> np.ndarray:
        return (feats(x) @ weight + bias).numpy()

    held = {"mnist": scores(held_mnist), **{k: scores(x) for k, x in held_drawn.items()}}
    threshold = max(
        [float(np.quantile(held["mnist"], 1 - MAX_FLAG_MNIST))]
        + [float(np.quantile(held[k], 1 - MAX_FLAG_DRAWN)) for k in held_drawn]
    )
    held_nd = scores(nondigit_inputs(1000, seed=seed + 2000, kinds=kinds))
    info = {
        "fitted_on": f"{n_mnist} MNIST training images, {n_drawn} training digits drawn in "
        f"each of {len(held_drawn)} ways, {n_nondigits} synthetic non-digits",
        "threshold_rule": f"flag at most {MAX_FLAG_MNIST:.1%} of held-out MNIST training "
        f"images and {MAX_FLAG_DRAWN:.1%} of each held-out drawn set",
        "held_out_flagged": {k: round(float((v > threshold).mean()), 4) for k, v in held.items()}
        | {"nondigits": round(float((held_nd > threshold).mean()), 4)},
        "seed": seed,
    }
    det = Detector(arch, meta["sha256"], layers, weight, bias, threshold, info)
    # What is stored is what runs: re-read the rounded weights before use.
    return Detector.from_json(json.loads(json.dumps(det.to_json())))


def save(det: Detector, folder: Path = OOD_DIR) -> Path:
    """Write a detector beside its peers, atomically; returns the path."""
    p = path_for(det.sha256, det.arch, folder)
    files.atomic_write(p, (json.dumps(det.to_json()) + "\n").encode())
    return p
