"""The augmentation used in training: rotations, scalings, shifts, shears, thickness, redrawing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_models import data as mdata
from mnist_models.training.augment import AugmentConfig, random_affine

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
    from mnist_models.training.augment import _grid

    theta = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.affine_grid(
        theta.view(9, 2, 3), [9, 1, h, w], align_corners=False
    )
    torch.testing.assert_close(_grid(theta, h, w), expected, atol=1e-6, rtol=0)


# --- the 'drawn' style: aspect, thickness, redrawn digits ---------------------


def _ink_box(x: torch.Tensor) -> tuple[int, int]:
    """(height, width) in px of the ink above 0.5 of a (1, 1, H, W) image."""
    ys, xs = (x[0, 0] > 0.5).nonzero(as_tuple=True)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def test_aspect_narrows_one_axis_only() -> None:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 4:24, 4:24] = 1.0  # a 20 x 20 square
    narrow = AugmentConfig(
        degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0, aspect=(0.6, 0.6), narrow=1.0
    )
    assert _ink_box(random_affine(x, None, narrow)) == (20, 12)
    flat = AugmentConfig(
        degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0, aspect=(0.6, 0.6), narrow=0.0
    )
    assert _ink_box(random_affine(x, None, flat)) == (12, 20)


def test_thickness_moves_towards_dilation_or_erosion() -> None:
    from mnist_models.training.augment import thickness

    x = torch.zeros(3, 1, 28, 28)
    x[:, 0, 5:23, 12:16] = 1.0  # a bar 4 px wide
    out = thickness(x, torch.tensor([1.0, 0.0, -1.0]))
    assert _ink_box(out[0:1]) == (20, 6)  # one pixel more on every side
    assert torch.equal(out[1], x[1])
    assert _ink_box(out[2:3]) == (16, 2)  # one pixel less
    half = thickness(x[:1], torch.tensor([0.5]))
    assert float(half.max()) == 1.0 and 0.0 < float(half[0, 0, 10, 11]) < 1.0


def test_drawn_style_varies_thickness_per_sample(batch: torch.Tensor) -> None:
    from mnist_models.training.augment import DRAWN

    cfg = AugmentConfig(
        degrees=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0, thickness_p=DRAWN.thickness_p
    )
    ratio = random_affine(batch, torch.Generator().manual_seed(0), cfg).sum((1, 2, 3)) / batch.sum(
        (1, 2, 3)
    )
    assert float(ratio.max()) > 1.3 and float(ratio.min()) < 0.8  # fatter and thinner
    assert float((ratio - 1).abs().lt(1e-6).float().mean()) > 0.3  # many left alone


def test_styles_are_named_and_checked() -> None:
    from mnist_models.training.augment import STYLES
    from mnist_models.training.train import TrainConfig

    assert set(STYLES) == {"jitter", "drawn"}
    assert STYLES["jitter"].redrawn == 0 and STYLES["drawn"].redrawn > 0
    with pytest.raises(ValueError, match="unknown augmentation 'wild'"):
        TrainConfig(augment=True, augment_style="wild").resolved()


def test_redraw_gives_full_range_ink_like_the_page(train_split, monkeypatch) -> None:
    from mnist_models.drawings import drawsets, synth
    from mnist_models.reading import pen

    imgs = train_split.images[:20].numpy()
    out = drawsets.redraw(imgs)
    assert out.shape == imgs.shape and out.dtype == np.uint8
    assert out.max() == 255 and 0.05 < (out > 127).mean() < 0.4
    assert np.array_equal(drawsets.redraw(imgs[5:8]), out[5:8])  # each digit on its own
    monkeypatch.setattr(drawsets, "STRAY_SHARE", 0.0)
    monkeypatch.setattr(drawsets, "FLAG_SHARE", 0.0)  # imgs[3] is a 1: no flag either
    plain = drawsets.redraw(imgs)
    page = pen.from_strokes(synth.digit_strokes(imgs[3])).image
    np.testing.assert_allclose(plain[3] / 255, page, atol=1 / 255)
    # About a third got a stray mark: near ones stay in (the digit shrinks), far
    # ones are set aside by the page (no change).
    changed = (np.abs(out.astype(int) - plain).max((1, 2)) > 0).mean()
    assert 0.0 < changed < 0.7


def test_redrawn_are_cached_per_image(train_split, tmp_path, monkeypatch) -> None:
    from mnist_models.drawings import drawsets

    imgs = train_split.images[:30]
    calls = []
    real = drawsets._redraw_many
    monkeypatch.setattr(drawsets, "_redraw_many", lambda a: calls.append(len(a)) or real(a))
    first = drawsets.redrawn(imgs, torch.tensor([3, 1, 3]), cache_dir=tmp_path)
    assert calls == [2] and first.shape == (3, 28, 28) and torch.equal(first[0], first[2])
    again = drawsets.redrawn(imgs, torch.tensor([1, 5]), cache_dir=tmp_path)
    assert calls == [2, 1] and torch.equal(again[0], first[1])  # only 5 was new
    (cache,) = tmp_path.iterdir()
    cache.write_bytes(b"not a zip")  # corrupt: redrawn again, nothing lost
    assert torch.equal(drawsets.redrawn(imgs, torch.tensor([1]), cache_dir=tmp_path)[0], first[1])
    assert calls == [2, 1, 1]


def test_training_with_the_drawn_style_mixes_in_redrawn_digits(
    train_split, small_test, tmp_path, monkeypatch
) -> None:
    from mnist_models.training.train import TrainConfig, train

    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    cfg = TrainConfig(
        model="mlp", subset=200, epochs=1, augment=True, augment_style="drawn", threads=1
    )
    result = train(cfg, train_split=train_split, test_split=small_test)
    assert result.config.augment_style == "drawn" and 0.0 <= result.test_accuracy <= 1.0
    assert len(list((tmp_path / "cache").glob("redrawn-*.npz"))) == 1


def test_a_style_can_settle_on_the_jitter_for_its_last_epochs(batch: torch.Tensor) -> None:
    from mnist_models.training.augment import DRAWN, STYLES, Style

    s = Style(DRAWN, redrawn=0.5, share=0.5, settle=0.25)
    assert s.at_epoch(1, 40) is s and s.at_epoch(30, 40) is s
    assert s.at_epoch(31, 40) is STYLES["jitter"] and s.at_epoch(40, 40) is STYLES["jitter"]
    assert Style(DRAWN).at_epoch(40, 40).ranges is DRAWN
    half = s.apply(batch, torch.Generator().manual_seed(0))
    assert half.shape == batch.shape and not torch.allclose(half, batch)


def test_estimates_count_the_redrawing() -> None:
    from mnist_models.training.estimates import redraw_seconds
    from mnist_models.training.train import TrainConfig

    assert redraw_seconds(TrainConfig(subset=1000, augment=True)) == 0.0  # jitter
    small = redraw_seconds(TrainConfig(subset=1000, augment=True, augment_style="drawn"))
    assert 1.0 < small < 10.0
    big = redraw_seconds(TrainConfig(subset=60_000, augment=True, augment_style="drawn", threads=2))
    assert 60.0 < big < 200.0
