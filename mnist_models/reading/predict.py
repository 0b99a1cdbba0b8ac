"""One drawing through one network: probabilities, answer, confidence, time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from mnist_models import cpu

# Below this top probability a network's answer is marked "not sure".
NOT_SURE_BELOW = 0.70


@dataclass
class Prediction:
    probs: list[float]  # ten probabilities, digits 0..9
    digit: int
    confidence: float
    ms: float  # inference time for this one image

    @property
    def sure(self) -> bool:
        return self.confidence >= NOT_SURE_BELOW


def predict(model: nn.Module, x: torch.Tensor, temperature: float = 1.0) -> Prediction:
    """x: (1, 1, 28, 28) in [0, 1]. The model must be in eval mode."""
    t0 = time.perf_counter()
    with torch.inference_mode(), cpu.one_thread():
        logits = model(x)[0]
    return from_logits(logits, temperature, (time.perf_counter() - t0) * 1000)


def from_logits(logits: torch.Tensor, temperature: float, ms: float) -> Prediction:
    """The prediction for one drawing's ten logits (what predict() computes from them)."""
    probs = torch.softmax(logits.float() / temperature, dim=0)
    conf, digit = probs.max(0)
    return Prediction(probs.tolist(), int(digit), float(conf), ms)
