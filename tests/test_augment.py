"""The augmentation used in training: random rotations, scalings, shifts and shears."""

from __future__ import annotations

import pytest
import torch

from mnist_models import data as mdata
from mnist_models.augment import AugmentConfig, random_affine

NO_JITTER = AugmentConfig(degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """256 real training digits, (256, 1, 28, 28) in [0, 1]."""
    return mdata.to_float(mdata.load_split("train").images[:256])


def test_affine_keeps_shape_and_range(batch: torch.Tensor) -> None:
    out = random_affine(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    assert not torch.allclose(out, batch)  # it did something


def test_affine_roughly_keeps_ink(batch: torch.Tensor) -> None:
    out = random_affine(batch, torch.Generator().manual_seed(0))
    ratio = out.sum((1, 2, 3)) / batch.sum((1, 2, 3))
    # Scaling by 0.85-1.15 changes the area by at most ~1.15^2 either way.
    assert float(ratio.min()) > 0.65 and float(ratio.max()) < 1.5
    assert abs(float(ratio.mean()) - 1.0) < 0.1


def test_affine_keeps_digits_near_the_centre(batch: torch.Tensor) -> None:
    out = random_affine(batch, torch.Generator().manual_seed(0))
    coords = torch.arange(28.0)

    def centre(x: torch.Tensor) -> torch.Tensor:
        mass = x.sum((1, 2, 3))
        return torch.stack(
            [(x.sum((1, 3)) * coords).sum(1) / mass, (x.sum((1, 2)) * coords).sum(1) / mass], 1
        )

    moved = (centre(out) - centre(batch)).abs()
    assert float(moved.max()) < 5.0  # shift is at most 2.8 px, plus rotation about the middle
    assert float(moved.mean()) > 0.3


def test_affine_with_zero_ranges_is_identity(batch: torch.Tensor) -> None:
    out = random_affine(batch, torch.Generator().manual_seed(0), NO_JITTER)
    torch.testing.assert_close(out, batch, atol=1e-5, rtol=0)


def test_affine_pure_shift_moves_by_whole_pixels() -> None:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0
    cfg = AugmentConfig(degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0)
    assert torch.equal(random_affine(x, None, cfg).nonzero(), x.nonzero())


def test_affine_is_seeded_and_per_sample(batch: torch.Tensor) -> None:
    a = random_affine(batch, torch.Generator().manual_seed(5))
    b = random_affine(batch, torch.Generator().manual_seed(5))
    c = random_affine(batch, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    same = batch[:1].expand(8, -1, -1, -1).contiguous()
    out = random_affine(same, torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1])  # each sample gets its own transform


def test_affine_accepts_channels_last(batch: torch.Tensor) -> None:
    cl = batch.contiguous(memory_format=torch.channels_last)
    a = random_affine(batch, torch.Generator().manual_seed(1))
    b = random_affine(cl, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("h", "w"), [(28, 28), (20, 28)])
def test_affine_grid_matches_torch(h: int, w: int) -> None:
    """Our one-product grid is F.affine_grid(align_corners=False), faster."""
    from mnist_models.augment import _grid

    theta = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.affine_grid(
        theta.view(9, 2, 3), [9, 1, h, w], align_corners=False
    )
    torch.testing.assert_close(_grid(theta, h, w), expected, atol=1e-6, rtol=0)
