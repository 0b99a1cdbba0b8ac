"""Random affine jitter applied per sample to whole batches of tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms (drawn digits are never as tidy as MNIST)."""

    degrees: float = 12.0  # rotation, +-
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.1  # fraction of the image, +- (0.1 = 2.8 px)
    shear: float = 10.0  # degrees, +-


def random_affine(
    x: torch.Tensor, generator: torch.Generator | None = None, cfg: AugmentConfig = AugmentConfig()
) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W), each sample rotated/scaled/sheared/shifted on its own."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-cfg.degrees, cfg.degrees) * (math.pi / 180)
    shear = uniform(-cfg.shear, cfg.shear) * (math.pi / 180)
    scale = uniform(*cfg.scale)
    tx = uniform(-cfg.shift, cfg.shift) * 2  # grid coordinates span [-1, 1]
    ty = uniform(-cfg.shift, cfg.shift) * 2
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # affine_grid maps output -> input coordinates, so this is the inverse of
    # the jitter; every range is symmetric, so that changes nothing.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + cos * tan) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + sin * tan) / scale
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
