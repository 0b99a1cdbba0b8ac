"""Random affine jitter and stroke thickness, applied per sample to whole batches of tensors.

Two sets of ranges: ``JITTER``, the mild one the learning curves and calibration
use, and ``DRAWN``, wide enough for digits as people draw them on the page:
tilted by 20 degrees, slanted like italics, narrow, drawn with a thin or fat pen.
"""

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
    # Width over height, as a factor on one axis: the width with probability
    # narrow, else the height (1.0: both axes scale alike).
    aspect: tuple[float, float] = (1.0, 1.0)
    narrow: float = 0.75
    # Ink grown (up to +thicker) or worn away (up to -thinner) towards a 3x3
    # dilation or erosion, with this probability; 0: strokes left as they are.
    thickness_p: float = 0.0
    thicker: float = 1.0
    thinner: float = 0.5


JITTER = AugmentConfig()
DRAWN = AugmentConfig(
    degrees=20.0,
    scale=(0.85, 1.15),
    shift=0.1,
    shear=16.7,  # tan 16.7 degrees = 0.3, an italic slant
    aspect=(0.6, 1.0),
    narrow=1.0,  # narrower only: people draw narrow digits, rarely flat ones
    thickness_p=0.5,
)


@dataclass(frozen=True)
class Style:
    """One way of augmenting: the ranges, given to a share of each batch (the rest get
    the mild JITTER), and the share taken from the digits as the drawing page would see
    them drawn (drawsets.redraw) instead of MNIST's."""

    ranges: AugmentConfig
    redrawn: float = 0.0
    share: float = 1.0
    # The last `settle` of the epochs use the mild JITTER on MNIST's own digits.
    settle: float = 0.0
    # > 0: every batch keeps all its digits with the mild JITTER, and this share
    # of them come again, redrawn (with probability `redrawn`) and given `ranges`:
    # the network sees MNIST as much as with the jitter alone, and drawn digits
    # besides (at the cost of that much more computing per epoch).
    extra: float = 0.0

    def at_epoch(self, epoch: int, epochs: int) -> Style:
        """The style for this (1-based) epoch."""
        if self.settle > 0 and epoch > round(epochs * (1 - self.settle)):
            return STYLES["jitter"]
        return self

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, C, H, W) -> the batch augmented, each sample on its own."""
        if self.share >= 1.0:
            return random_affine(x, generator, self.ranges)
        wide = torch.rand(x.shape[0], generator=generator).to(x.device) < self.share
        out = torch.empty_like(x)
        out[wide] = random_affine(x[wide], generator, self.ranges)
        out[~wide] = random_affine(x[~wide], generator, JITTER)
        return out


STYLES = {"jitter": Style(JITTER), "drawn": Style(DRAWN, redrawn=0.5, settle=0.2, extra=0.5)}


def random_affine(
    x: torch.Tensor, generator: torch.Generator | None = None, cfg: AugmentConfig = JITTER
) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W), each sample rotated/scaled/sheared/shifted on its own
    (and its ink thickened or thinned, if cfg says so)."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    if cfg.thickness_p > 0:
        x = thickness(x, _thickness_amounts(n, cfg, generator))
    angle = uniform(-cfg.degrees, cfg.degrees) * (math.pi / 180)
    shear = uniform(-cfg.shear, cfg.shear) * (math.pi / 180)
    scale = uniform(*cfg.scale)
    sx = sy = scale
    if cfg.aspect != (1.0, 1.0):  # (drawn only when asked: the jitter stays as it was)
        aspect = uniform(*cfg.aspect)
        on_x = torch.rand(n, generator=generator) < cfg.narrow
        sx = scale * torch.where(on_x, aspect, torch.ones_like(aspect))
        sy = scale * torch.where(on_x, torch.ones_like(aspect), aspect)
    tx = uniform(-cfg.shift, cfg.shift) * 2  # grid coordinates span [-1, 1]
    ty = uniform(-cfg.shift, cfg.shift) * 2
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # affine_grid maps output -> input coordinates: input = S^-1 (R Sh) output,
    # the inverse of a scaling after the shear and rotation (whose ranges are
    # symmetric, so inverting them changes nothing).
    theta = torch.stack(
        [
            cos / sx,
            (-sin + cos * tan) / sx,
            tx,
            sin / sy,
            (cos + sin * tan) / sy,
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


def _thickness_amounts(n: int, cfg: AugmentConfig, generator: torch.Generator | None):
    u = torch.rand(n, generator=generator)
    on = torch.rand(n, generator=generator) < cfg.thickness_p
    grow = torch.rand(n, generator=generator) < 0.5
    amount = torch.where(grow, u * cfg.thicker, -u * cfg.thinner)
    return torch.where(on, amount, torch.zeros_like(amount))


def thickness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) ink in [0, 1], each sample moved towards its 3x3 dilation (amount > 0)
    or erosion (amount < 0) by |amount| (1: all the way; one pixel on each side)."""
    a = amount.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
    grown = F.max_pool2d(x, 3, 1, 1)
    worn = -F.max_pool2d(-x, 3, 1, 1)
    return x + a.clamp(min=0) * (grown - x) + (-a).clamp(min=0) * (worn - x)


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
