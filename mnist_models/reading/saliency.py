"""What a network looks at: occlusion saliency and first-layer convolutional feature maps.

Occlusion: slide a small blank (ink-free) patch over the 28x28 input, all
positions in one batch, and record how much the log-odds of the class of
interest, log p / (1 - p), drop with each (log-odds do not saturate, so a
99.99%-sure answer still shows where its evidence is); a pixel's score is the
mean drop over the patches that cover it. Positive: ink there supports the
class; negative: removing it would make the class more likely. Pure torch,
no gradients. Feature maps exist for the networks marked ``feature_maps`` in the
network table (the ConvNet).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnist_models.nets import networks

SIZE = 28


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    patch: int = 4,
    stride: int = 2,
    baseline: float = 0.0,
) -> torch.Tensor:
    """(1, 1, 28, 28) input -> (28, 28) drop in log-odds of target when each area is blanked."""
    if x.shape != (1, 1, SIZE, SIZE):
        raise ValueError(f"expected a (1, 1, {SIZE}, {SIZE}) input, got {tuple(x.shape)}")
    x = x.float()
    starts = list(range(0, SIZE - patch + 1, stride))
    if starts[-1] != SIZE - patch:
        starts.append(SIZE - patch)
    k = len(starts)
    masks = torch.zeros(k * k, 1, SIZE, SIZE)
    for i, r in enumerate(starts):
        for j, c in enumerate(starts):
            masks[i * k + j, 0, r : r + patch, c : c + patch] = 1.0
    batch = x * (1 - masks) + baseline * masks
    with torch.inference_mode():
        z = model(torch.cat([x, batch])).float()
    if target is None:
        target = int(z[0].argmax())
    others = torch.cat([z[:, :target], z[:, target + 1 :]], dim=1)
    log_odds = z[:, target] - torch.logsumexp(others, dim=1)  # log p / (1 - p)
    drop = log_odds[0] - log_odds[1:]  # (k*k,)
    heat = (drop.view(-1, 1, 1, 1) * masks).sum(0)[0]
    cover = masks.sum(0)[0].clamp(min=1)
    return heat / cover


def feature_maps(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A network's first convolution after ReLU for one input: (channels, 28, 28).

    The model's ``features`` stage must begin with that convolution (as the ConvNet's
    does); ValueError for a model without one.
    """
    conv = getattr(model, "features", None)
    if not isinstance(conv, nn.Sequential) or not len(conv) or not isinstance(conv[0], nn.Conv2d):
        names = ", ".join(n.name for n in networks.NETWORKS.values() if n.feature_maps)
        raise ValueError(f"feature maps exist only for networks with a first convolution ({names})")
    with torch.inference_mode():
        return F.relu(conv[0](model.norm(x.float())))[0]


def overlay(
    image: np.ndarray, heat: np.ndarray, scale: float | None = None, alpha: float = 0.75
) -> np.ndarray:
    """Grey digit with positive heat in red, negative in blue: (H, W, 3) uint8."""
    img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    h = np.asarray(heat, dtype=np.float32)
    m = scale if scale is not None else float(np.abs(h).max())
    h = h / m if m > 0 else np.zeros_like(h)
    h = np.clip(h, -1, 1)
    base = np.repeat((1 - 0.6 * img)[..., None], 3, axis=2)  # light grey ink on white
    red = np.array([0.84, 0.15, 0.16], dtype=np.float32)
    blue = np.array([0.12, 0.47, 0.71], dtype=np.float32)
    pos = np.clip(h, 0, 1)[..., None] * alpha
    neg = np.clip(-h, 0, 1)[..., None] * alpha
    out = base * (1 - pos - neg) + red * pos + blue * neg
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def tile(maps: np.ndarray, cols: int = 10, pad: int = 1) -> np.ndarray:
    """(C, H, W) maps, each scaled to its own max -> one grid image in [0, 1] (1 = strong)."""
    c, h, w = maps.shape
    rows = (c + cols - 1) // cols
    grid = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for i in range(c):
        m = maps[i]
        top = float(m.max())
        r, q = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = (
            m / top if top > 0 else m
        )
    return grid
