"""Accuracy, per-class accuracy and the confusion matrix of a model on a set of images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

BATCH = 500  # images per forward pass; also how often a stop request is honoured
# Training's test evaluations (the curves, the final figure) take each network's own
# batch (`Network.eval_batch` in nets/networks.py).


class Cancelled(Exception):
    """Raised out of train() or evaluate() when a stop request was honoured."""


def _as_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float (N, 1, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    if x.dtype == torch.uint8:
        x = x.float().div(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x


def logits(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = BATCH,
    memory_format: torch.memory_format | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """(N, 10) logits in eval mode, batched, without autograd.

    memory_format: the input layout the network runs fastest in (channels_last for the
    ConvNet on the CPU: a channels_last input is enough for the convolutions to take
    that path, so the model itself, perhaps a shared cached one, is not changed).
    should_stop: checked before every batch; Cancelled is raised once it is true.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                xb = _as_input(x[i : i + batch_size]).to(device)
                if memory_format is not None:
                    xb = xb.contiguous(memory_format=memory_format)
                out.append(model(xb).float())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    memory_format: torch.memory_format | None = None,
    batch_size: int = BATCH,
) -> float:
    """Fraction of x that the model labels as y."""
    pred = logits(model, x, batch_size, memory_format=memory_format).argmax(1).cpu()
    return float((pred == y.cpu()).float().mean())


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """(classes, classes) counts; row = true label, column = prediction."""
    flat = y_true.long() * classes + y_pred.long()
    return torch.bincount(flat, minlength=classes * classes).reshape(classes, classes)


@dataclass
class Report:
    accuracy: float
    per_class: list[float]  # accuracy for each true digit 0..9
    confusion: list[list[int]]
    count: int


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    memory_format: torch.memory_format | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = BATCH,
) -> Report:
    """Full report of a model on (x, y); Cancelled if should_stop() turns true between batches."""
    pred = logits(model, x, batch_size, memory_format, should_stop).argmax(1).cpu()
    y = y.cpu()
    cm = confusion_matrix(y, pred)
    totals = cm.sum(1).clamp(min=1)
    per_class = (cm.diag().float() / totals).tolist()
    return Report(float((pred == y).float().mean()), per_class, cm.tolist(), len(y))
