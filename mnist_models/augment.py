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
    theta = torch.stack(
        [
            cos / scale,
            (-sin + cos * tan) / scale,
            tx,
            sin / scale,
            (cos + sin * tan) / scale,
            ty,
        ],
        1,
    ).to(device=x.device, dtype=x.dtype)  # (N, 6): rows of the 2x3 matrices
    return F.grid_sample(
        x,
        _grid(theta, x.shape[-2], x.shape[-1]),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )


def _grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, 6) affine rows -> (N, H, W, 2) sampling grid, as F.affine_grid(align_corners=False).

    One (2N, 3) x (3, H*W) product: affine_grid's batched matmul is ~15x slower here.
    """
    n = theta.shape[0]
    kw = {"device": theta.device, "dtype": theta.dtype}
    xs = (torch.arange(w, **kw) * 2 + 1) / w - 1  # pixel centres in [-1, 1]
    ys = (torch.arange(h, **kw) * 2 + 1) / h - 1
    base = torch.stack([xs.repeat(h), ys.repeat_interleave(w), torch.ones(h * w, **kw)])
    return (theta.view(2 * n, 3) @ base).view(n, 2, h, w).permute(0, 2, 3, 1)
