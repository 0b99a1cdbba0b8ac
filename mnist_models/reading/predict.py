"""One drawing through one network: probabilities, answer, confidence, time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

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


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for the block, then as before.

    One drawing is a tiny amount of work: a second thread only adds waiting, and
    when the other core is busy (the browser, a training job) the two threads'
    hand-offs made one ConvNet pass in the app server take ~50 ms instead of ~1 ms.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def predict(model: nn.Module, x: torch.Tensor, temperature: float = 1.0) -> Prediction:
    """x: (1, 1, 28, 28) in [0, 1]. The model must be in eval mode."""
    t0 = time.perf_counter()
    with torch.inference_mode(), one_thread():
        logits = model(x)[0]
    ms = (time.perf_counter() - t0) * 1000
    probs = torch.softmax(logits.float() / temperature, dim=0)
    conf, digit = probs.max(0)
    return Prediction(probs.tolist(), int(digit), float(conf), ms)
