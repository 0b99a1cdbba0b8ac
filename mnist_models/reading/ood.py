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
fitted for. This module applies them; fitting is training (``training/ood_fit.py``):
``python -m mnist_models ood fit weights/mlp.pt weights/cnn.pt`` makes them. Which
layers a network's probe reads is its ``ood_layers`` in the network table; a network
with none, or a checkpoint nobody fitted a detector for, has no verdict (None).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_models import files
from mnist_models.cpu import one_thread
from mnist_models.reading.predict import Prediction, from_logits

OOD_DIR = files.ROOT / "data" / "ood"


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
        return self._probe(features(model, x, self.layers)[0])

    def _probe(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.weight + self.bias

    def verdict(self, model: nn.Module, x: torch.Tensor) -> Verdict:
        """The verdict for one drawing x (1, 1, 28, 28)."""
        with one_thread():
            return self._verdict(float(self.logits(model, x)[0]))

    def read(
        self, model: nn.Module, x: torch.Tensor, temperature: float
    ) -> tuple[Prediction, Verdict]:
        """One drawing x (1, 1, 28, 28) through the network once: its prediction (as
        predict.predict gives it) and its verdict (as verdict gives it)."""
        t0 = time.perf_counter()
        with one_thread():
            f, logits = features(model, x, self.layers)
            ms = (time.perf_counter() - t0) * 1000
            z = float(self._probe(f)[0])
        return from_logits(logits[0], temperature, ms), self._verdict(z)

    def _verdict(self, z: float) -> Verdict:
        return Verdict(z > self.threshold, _sigmoid(z), _sigmoid(self.threshold))

    @property
    def threshold_score(self) -> float:
        """The threshold as a score from 0 to 1 (what Verdict.threshold holds)."""
        return _sigmoid(self.threshold)

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
