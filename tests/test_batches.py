"""An epoch's batches made a block at a time: the same batches as one at a time, and with a
block of one batch, the very same tensors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from mnist_models import data as mdata
from mnist_models.training import batches
from mnist_models.training.augment import STYLES


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """300 real training digits, their labels, and stand-in 'redrawn' copies (flipped)."""
    split = mdata.load_split("train")
    x = mdata.to_float(split.images[:300])
    return x, split.labels[:300], x.flip(-1)


def one_at_a_time(style, perm, bs, x, y, x_drawn, seed):
    """The batches as training made them before blocks: augmented() per batch."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in range(0, len(perm), bs):
        sel = perm[s : s + bs]
        out.append(batches.augmented(style, sel, x[sel], y[sel], x_drawn, g))
    return out


def blocks(style, perm, bs, x, y, x_drawn, seed):
    g = torch.Generator().manual_seed(seed)
    return list(batches.batches(perm, bs, x, y, style, x_drawn, g))


@pytest.mark.parametrize("name", ["jitter", "drawn"])
def test_a_block_of_one_batch_is_the_batch(name, digits, monkeypatch) -> None:
    x, y, x_drawn = digits
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(batches, "BLOCK_IMAGES", 64)  # one batch of 64 per block
    want = one_at_a_time(STYLES[name], perm, 64, x, y, x_drawn, seed=5)
    got = blocks(STYLES[name], perm, 64, x, y, x_drawn, seed=5)
    assert len(got) == len(want) == 5  # 4 of 64 and one of 44
    for (gx, gy), (wx, wy) in zip(got, want):
        assert torch.equal(gx, wx) and torch.equal(gy, wy)


@pytest.mark.parametrize("name", ["jitter", "drawn", None])
def test_blocks_make_the_same_batches(name, digits) -> None:
    x, y, x_drawn = digits
    style = STYLES[name] if name else None
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(2))
    got = blocks(style, perm, 64, x, y, x_drawn, seed=7)  # 300 images: a single block
    if style is None:
        want = [(x[perm[s : s + 64]], y[perm[s : s + 64]]) for s in range(0, 300, 64)]
    else:
        want = one_at_a_time(style, perm, 64, x, y, x_drawn, seed=7)
    assert [len(b[1]) for b in got] == [len(b[1]) for b in want]
    for (gx, gy), (wx, wy) in zip(got, want):
        assert torch.equal(gy, wy)  # the same digits in the same batches
        assert gx.shape == wx.shape
        if style is None:
            assert torch.equal(gx, wx)
        else:  # augmented from other random numbers, but as much ink moved about
            assert not torch.equal(gx, wx)
            assert abs(float(gx.mean()) / float(wx.mean()) - 1) < 0.15


def test_drawn_copies_come_from_the_batchs_first_digits(digits, monkeypatch) -> None:
    x, y, x_drawn = digits
    # No movement at all: every copy is the digit itself or its redrawn one.
    still = replace(STYLES["jitter"].ranges, degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0)
    style = replace(STYLES["drawn"], ranges=still)
    monkeypatch.setitem(STYLES, "jitter", replace(STYLES["jitter"], ranges=still))
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(3))
    got = blocks(style, perm, 100, x, y, x_drawn, seed=0)
    assert len(got) == 3
    for b, (gx, gy) in enumerate(got):
        sel = perm[b * 100 : (b + 1) * 100]
        first = sel[:50]
        assert len(gy) == 150 and torch.equal(gy[:100], y[sel]) and torch.equal(gy[100:], y[first])
        assert torch.allclose(gx[:100], x[sel], atol=1e-5)
        for copy, j in zip(gx[100:], first):
            assert torch.allclose(copy, x[j], atol=1e-5) or torch.allclose(
                copy, x_drawn[j], atol=1e-5
            )
