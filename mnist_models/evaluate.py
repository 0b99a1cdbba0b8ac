"""Accuracy, per-class accuracy, confusion matrix and probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def _as_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float (N, 1, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    if x.dtype == torch.uint8:
        x = x.float().div(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x


def logits(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N, 10) logits in eval mode, batched, without autograd."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out.append(model(_as_input(x[i : i + batch_size]).to(device)).float())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def probabilities(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
                  temperature: float = 1.0) -> torch.Tensor:
    """(N, 10) softmax probabilities (logits divided by temperature first)."""
    return torch.softmax(logits(model, x, batch_size) / temperature, dim=1)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of x that the model labels as y."""
    pred = logits(model, x).argmax(1).cpu()
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


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Report:
    """Full report of a model on (x, y)."""
    pred = logits(model, x).argmax(1).cpu()
    y = y.cpu()
    cm = confusion_matrix(y, pred)
    totals = cm.sum(1).clamp(min=1)
    per_class = (cm.diag().float() / totals).tolist()
    return Report(float((pred == y).float().mean()), per_class, cm.tolist(), len(y))
