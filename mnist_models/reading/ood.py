"""Is this a digit at all? A not-a-digit detector on each network's own features.

A classifier always picks one of ten digits, so an X or a zigzag comes out as an
8 or a 3 "99% sure". The scores that need nothing fitted (max softmax
probability, max logit, energy) and distances to the training classes
(Mahalanobis, cosine nearest neighbours) on the shipped networks' last hidden
layer flag only 7-31% of the synthetic non-digits at thresholds fitted on
held-out digits (README, "Is this a digit at all?"), so we fit a small probe
instead: a logistic regression on the network's own hidden layers (frozen; the
network is not retrained), with MNIST training digits, drawn training digits and
synthetic non-digits (``nondigits``) as its examples. Its threshold is fitted on
held-out training digits, never on the test set.

Fitted detectors are small JSON files under ``data/ood/``, named by the
checkpoint's SHA-256, so a detector can never be applied to weights it was not
fitted for. ``python -m mnist_models.reading.ood fit weights/mlp.pt weights/cnn.pt``
makes them. Which layers a network's probe reads is its ``ood_layers`` in the network
table; a network with none, or a checkpoint nobody fitted a detector for, has no
verdict (None).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_models import files
from mnist_models.cpu import one_thread
from mnist_models.nets import networks

OOD_DIR = files.ROOT / "data" / "ood"
# Threshold rule (fitted on held-out training digits): flag at most this share of
# MNIST digits, and of each drawn-digit variant.
MAX_FLAG_MNIST = 0.005
MAX_FLAG_DRAWN = 0.015


@dataclass(frozen=True)
class Verdict:
    """One network's answer to "is this a digit at all?"."""

    not_digit: bool
    score: float  # 0..1: how much the network's features look like a non-digit
    threshold: float  # score above which the drawing is flagged


def _walk(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(inputs of every nn.Linear in order, logits), by running the model's stages by hand.

    Both networks are a normalisation followed by nn.Sequential stages (models.py).
    Forward hooks would do the same, but they live on the module: the app shares one
    model between visitors' threads, and one visitor's hook would see another's drawing.
    """
    h = model.norm(x)
    inputs = []
    for stage in (m for m in model.children() if isinstance(m, nn.Sequential)):
        for layer in stage:
            if isinstance(layer, nn.Linear):
                inputs.append(h.flatten(1))
            h = layer(h)
    return inputs, h


def features(
    model: nn.Module, x: torch.Tensor, layers: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(probe features (N, D), logits (N, 10)) of a batch x (N, 1, 28, 28) in [0, 1].

    Features are the inputs of the chosen nn.Linear layers, each scaled to unit
    length (the drawing's size and ink amount should not matter, only its shape),
    then the log-probabilities.
    """
    with torch.inference_mode():
        inputs, logits = _walk(model, x)
    parts = [inputs[i] / inputs[i].norm(dim=1, keepdim=True).clamp_min(1e-6) for i in layers]
    return torch.cat([*parts, torch.log_softmax(logits.float(), 1)], 1).float(), logits


@dataclass
class Detector:
    """A fitted probe for one checkpoint: logit = features @ weight + bias."""

    arch: str
    sha256: str
    layers: tuple[int, ...]
    weight: torch.Tensor  # (D,)
    bias: float
    threshold: float  # on the probe's logit
    info: dict[str, Any] = field(default_factory=dict)  # how it was fitted; held-out figures

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Probe logits (N,) for a batch; above `threshold` means "not a digit"."""
        f, _ = features(model, x, self.layers)
        return f @ self.weight + self.bias

    def verdict(self, model: nn.Module, x: torch.Tensor) -> Verdict:
        """The verdict for one drawing x (1, 1, 28, 28)."""
        with one_thread():
            z = float(self.logits(model, x)[0])
        return Verdict(z > self.threshold, _sigmoid(z), _sigmoid(self.threshold))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "arch": self.arch,
            "sha256": self.sha256,
            "layers": list(self.layers),
            "bias": self.bias,
            "threshold": self.threshold,
            "info": self.info,
            "weight": [float(f"{v:.6g}") for v in self.weight.tolist()],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Detector:
        return cls(
            d["arch"],
            d["sha256"],
            tuple(int(i) for i in d["layers"]),
            torch.tensor(d["weight"], dtype=torch.float32),
            float(d["bias"]),
            float(d["threshold"]),
            d.get("info", {}),
        )


def _sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))


def path_for(sha256: str, arch: str, folder: Path = OOD_DIR) -> Path:
    """Where the detector of a checkpoint lives."""
    return folder / f"{arch}-{sha256[:16]}.json"


class DetectorStore:
    """Detectors loaded from disk once per process, by checkpoint SHA-256."""

    def __init__(self, folder: Path = OOD_DIR) -> None:
        self.folder = folder
        self._cache: dict[tuple[str, str], Detector | None] = {}
        self._lock = threading.Lock()

    def get(self, sha256: str, arch: str) -> Detector | None:
        """The detector fitted for this checkpoint, or None if there is none (or it is broken)."""
        key = (sha256, arch)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._load(sha256, arch)
            return self._cache[key]

    def _load(self, sha256: str, arch: str) -> Detector | None:
        p = path_for(sha256, arch, self.folder)
        try:
            det = Detector.from_json(json.loads(p.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # A file copied or renamed by hand must still belong to these weights.
        return det if det.sha256 == sha256 and det.arch == arch else None


STORE = DetectorStore()


def combined(verdicts: dict[str, Verdict | None]) -> bool | None:
    """The page's verdict "this doesn't look like a digit": when every network says so.

    Requiring both keeps false alarms on real digits rare (each network alone
    flags some rotated or slanted digits); see the README for the figures.
    None when no network has a detector.
    """
    known = [v for v in verdicts.values() if v is not None]
    if not known:
        return None
    return all(v.not_digit for v in known)


# --- fitting ------------------------------------------------------------------


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


def _drawn(images: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
    from mnist_models.drawings import drawsets, synth

    strokes = [synth.digit_strokes(img) for img in images]
    return {
        v: drawsets.build(images, v, seed=seed + i, strokes=strokes)[0]
        for i, v in enumerate(drawsets.VARIANTS)
    }


def _nondigit_inputs(n: int, seed: int, kinds: tuple[str, ...] | None = None) -> torch.Tensor:
    from mnist_models.drawings import nondigits
    from mnist_models.reading import preprocess as pp

    made = nondigits.make_set(n, seed=seed, kinds=kinds or nondigits.KINDS)
    pres = [pp.from_strokes(s) for _, s in made]
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
    """
    from mnist_models import data as mdata

    arch = meta["architecture"]
    layers = networks.get(arch).ood_layers  # which nn.Linear inputs feed the probe
    if not layers:
        raise ValueError(
            f"the {networks.get(arch).name} has no layers for the not-a-digit check "
            "(no ood_layers in the network table): no detector can be fitted for it"
        )
    train = mdata.load_split("train")
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(50_000, generator=g)
    fit_mnist = train.images[pick[:n_mnist]].float().div(255).unsqueeze(1)
    cache = {} if cache is None else cache
    key = (n_mnist, n_drawn, seed)
    if key not in cache:
        cache[key] = (
            _drawn(train.images[pick[n_mnist : n_mnist + n_drawn]].numpy(), seed),
            _drawn(train.images[50_000 : 50_000 + n_drawn].numpy(), seed + 100),
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
    neg = feats(_nondigit_inputs(n_nondigits, seed=seed + 1000, kinds=kinds))
    weight, bias = _fit_probe(pos, neg)

    def scores(x: torch.Tensor) -> np.ndarray:
        return (feats(x) @ weight + bias).numpy()

    held = {"mnist": scores(held_mnist), **{k: scores(x) for k, x in held_drawn.items()}}
    threshold = max(
        [float(np.quantile(held["mnist"], 1 - MAX_FLAG_MNIST))]
        + [float(np.quantile(held[k], 1 - MAX_FLAG_DRAWN)) for k in held_drawn]
    )
    held_nd = scores(_nondigit_inputs(1000, seed=seed + 2000, kinds=kinds))
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


def main(argv: list[str] | None = None) -> None:
    """python -m mnist_models.reading.ood fit CHECKPOINT... [--out DIR]."""
    import argparse
    import sys

    from mnist_models.nets import checkpoint

    p = argparse.ArgumentParser(prog="python -m mnist_models.reading.ood", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit the not-a-digit detector of checkpoints")
    f.add_argument("paths", type=Path, nargs="+")
    f.add_argument("--out", type=Path, default=OOD_DIR)
    f.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    for path in a.paths:
        try:
            model, meta = checkpoint.load(path)
        except checkpoint.CheckpointError as exc:
            sys.stderr.write(f"mnist_models.reading.ood: error: {exc}\n")
            sys.exit(2)
        det = fit(model, meta, seed=a.seed)
        out = save(det, a.out)
        print(
            f"{path}: threshold {_sigmoid(det.threshold):.3f}; held-out flagged "
            + ", ".join(f"{k} {v:.1%}" for k, v in det.info["held_out_flagged"].items())
            + f"; wrote {out}",
            flush=True,
        )


if __name__ == "__main__":
    main()
