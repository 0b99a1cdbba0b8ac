"""An epoch's batches, augmented a block of batches at a time.

Augmenting each batch of 128 on its own made a dozen small operations per batch, each
too small to spread over the cores; one call per transform for a block of batches does
the same per-image work in bigger pieces. Each image still gets its own random
transform, so a block is augmented as its batches would be, from other random numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import torch

from mnist_models.training.augment import STYLES, Style

BLOCK_IMAGES = 4096  # images augmented at once (a block's copies stay a few tens of MB)


def batches(
    perm: torch.Tensor,
    bs: int,
    x: torch.Tensor,
    y: torch.Tensor,
    style: Style | None,
    x_drawn: torch.Tensor | None,
    g: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) of each batch of `perm` in order, augmented by `style` (None: not)."""
    per_block = max(1, BLOCK_IMAGES // bs) * bs
    for start in range(0, len(perm), per_block):
        sel = perm[start : start + per_block]
        if style is None:
            for s in range(0, len(sel), bs):
                yield x[sel[s : s + bs]], y[sel[s : s + bs]]
        else:
            yield from _augmented_block(style, sel, bs, x, y, x_drawn, g)


def _augmented_block(
    style: Style,
    sel: torch.Tensor,
    bs: int,
    x: torch.Tensor,
    y: torch.Tensor,
    x_drawn: torch.Tensor | None,
    g: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of sel, each as augmented() makes a batch, in one pass over the block."""
    starts = range(0, len(sel), bs)
    if style.extra <= 0:
        xa, _ = augmented(style, sel, x[sel], y[sel], x_drawn, g)
        for s in starts:
            yield xa[s : s + bs], y[sel[s : s + bs]]
        return
    # Each batch's first `extra` share comes again, widely augmented: all in one call.
    counts = [max(1, round(len(sel[s : s + bs]) * style.extra)) for s in starts]
    firsts = torch.cat([sel[s : s + k] for s, k in zip(starts, counts)])
    wide = replace(style, extra=0.0, share=1.0)
    more, _ = augmented(wide, firsts, x[firsts], y[firsts], x_drawn, g)  # first, as augmented()
    jittered = STYLES["jitter"].apply(x[sel], g)
    at = 0
    for s, k in zip(starts, counts):
        e = s + bs
        yield (
            torch.cat([jittered[s:e], more[at : at + k]]),
            torch.cat([y[sel[s:e]], y[firsts[at : at + k]]]),
        )
        at += k


def augmented(
    style: Style,
    sel: torch.Tensor,
    xb: torch.Tensor,
    yb: torch.Tensor,
    x_drawn: torch.Tensor | None,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch as the style augments it (longer, when the style adds drawn copies)."""
    if style.extra > 0:
        k = max(1, round(len(sel) * style.extra))
        more = augmented(replace(style, extra=0.0, share=1.0), sel[:k], xb[:k], yb[:k], x_drawn, g)
        return torch.cat([STYLES["jitter"].apply(xb, g), more[0]]), torch.cat([yb, more[1]])
    if x_drawn is not None and style.redrawn > 0:
        pick = torch.rand(len(sel), generator=g) < style.redrawn
        xb = torch.where(pick.to(xb.device).view(-1, 1, 1, 1), x_drawn[sel], xb)
    return style.apply(xb, g), yb
