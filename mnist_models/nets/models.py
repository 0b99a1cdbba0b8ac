"""The blog's two networks as small PyTorch modules returning logits.

Which networks exist, and how each is built and trained, is the table in
``networks.py``; this module only defines the classes.
"""

from __future__ import annotations

import torch
from torch import nn

from mnist_models.data import MEAN, STD


class _Normalise(nn.Module):
    """Maps intensities in [0, 1] to the training distribution (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - MEAN) / STD


class Dropout(nn.Dropout):
    """nn.Dropout with a cheaper mask. On the CPU, rand_like() (and bernoulli_, slower
    still) took ~4% of a training step. At p = 1/2 (the MLP's) each element takes one
    random bit, 64 from each 64-bit draw, and the mask is the survivors' scale itself
    (0 or 2, exact in every float type), so the product's backward is one multiply; at
    other rates, 16 random bits per element, four from each draw."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n = x.numel()
        cut = round(self.p * 65536)  # drop where bits < cut - 32768: probability cut / 65536
        if cut >= 65536:
            return torch.zeros_like(x)
        if cut == 32768:
            draws = torch.empty((n + 63) // 64, dtype=torch.int64, device=x.device)
            byte = draws.random_(-(2**63), None).view(torch.uint8)
            bit = (byte.unsqueeze(-1) & _bit_values(x.device)).view(-1)[:n].view(x.shape)
            return x * bit.to(x.dtype).clamp_(max=1).mul_(2.0)
        draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
        bits = draws.random_(-(2**63), None).view(torch.int16)[:n].view(x.shape)
        keep = bits >= cut - 32768
        return x * keep * (65536 / (65536 - cut))  # survivors scaled: expected value kept


_BIT_VALUES: dict[torch.device, torch.Tensor] = {}


def _bit_values(device: torch.device) -> torch.Tensor:
    """1, 2, 4, ... 128 as bytes: each picks one bit of a random byte."""
    if device not in _BIT_VALUES:
        _BIT_VALUES[device] = torch.tensor([1 << j for j in range(8)], dtype=torch.uint8).to(device)
    return _BIT_VALUES[device]


class MLP(nn.Module):
    """784 -> 900 ReLU -> 900 ReLU -> Dropout(0.5) -> 10 (1,526,410 parameters)."""

    title = "MLP"

    def __init__(self, hidden: int = 900, dropout: float = 0.5) -> None:
        super().__init__()
        self.norm = _Normalise()
        self.net = nn.Sequential(
            nn.Flatten(),  # (N, 1, 28, 28) -> (N, 784)
            nn.Linear(784, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) intensities in [0, 1] -> (N, 10) logits."""
        return self.net(self.norm(x))


class ConvNet(nn.Module):
    """Conv 1->20, pool, Conv 20->32, pool, dense 1568->80->10 (132,322 parameters)."""

    title = "ConvNet"

    def __init__(self, c1: int = 20, c2: int = 32, hidden: int = 80, dropout: float = 0.4) -> None:
        super().__init__()
        self.norm = _Normalise()
        # Pool before ReLU: max-pool and ReLU commute (both monotonic), so this
        # is the blog's conv-ReLU-pool, with ReLU on a quarter of the values.
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),  # (N, 20, 28, 28)
            nn.MaxPool2d(2),  # (N, 20, 14, 14)
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),  # (N, 32, 14, 14)
            nn.MaxPool2d(2),  # (N, 32, 7, 7)
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            Dropout(dropout),
            nn.Flatten(),  # (N, 1568)
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) intensities in [0, 1] -> (N, 10) logits."""
        return self.classifier(self.features(self.norm(x)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
