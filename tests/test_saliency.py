"""Occlusion saliency and feature maps on the shipped networks and real test digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_models import data as mdata
from mnist_models.nets import checkpoint
from mnist_models.reading import saliency


@pytest.fixture(scope="module")
def models(root):
    """The shipped MLP and ConvNet."""
    return {arch: checkpoint.load(root / "weights" / f"{arch}.pt")[0] for arch in ("mlp", "cnn")}


def digit(test_split: mdata.Split, i: int) -> torch.Tensor:
    return mdata.to_float(test_split.images[i : i + 1])


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_occlusion_shape_and_blank_background(models, test_split, arch):
    x = digit(test_split, 0)
    heat = saliency.occlusion(models[arch], x)
    assert heat.shape == (28, 28)
    assert torch.isfinite(heat).all()
    # Blanking an empty corner changes nothing: no evidence there.
    assert heat[:2, :2].abs().max() < 1e-4
    assert heat.abs().max() > 0.01


def test_occlusion_rejects_wrong_shape(models):
    with pytest.raises(ValueError, match="expected"):
        saliency.occlusion(models["cnn"], torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_occluding_the_salient_ink_changes_the_prediction(models, test_split, arch):
    """Blank the 40% of ink pixels with the most evidence: the answer flips far more often
    than when as many ink pixels are blanked at random."""
    model = models[arch]
    flipped, flipped_random = 0, 0
    g = torch.Generator().manual_seed(0)
    n = 12
    for i in range(n):
        x = digit(test_split, i)
        d = int(model(x).argmax())
        heat = saliency.occlusion(model, x, d)
        ink = x[0, 0] > 0.2
        mask = ink & (heat >= heat[ink].quantile(0.6))
        salient = x.clone()
        salient[0, 0][mask] = 0
        flat = x.clone().flatten()
        idx = torch.nonzero(ink.flatten()).flatten()
        flat[idx[torch.randperm(len(idx), generator=g)[: int(mask.sum())]]] = 0
        with torch.inference_mode():
            flipped += int(model(salient).argmax()) != d
            flipped_random += int(model(flat.view(1, 1, 28, 28)).argmax()) != d
    assert flipped >= n // 2
    assert flipped > flipped_random


def test_feature_maps(models, test_split):
    maps = saliency.feature_maps(models["cnn"], digit(test_split, 0))
    assert maps.shape == (20, 28, 28)
    assert (maps >= 0).all() and maps.max() > 0
    with pytest.raises(ValueError, match="ConvNet"):
        saliency.feature_maps(models["mlp"], digit(test_split, 0))


def test_overlay_and_tile():
    img = np.zeros((28, 28), np.float32)
    img[10:18, 12:16] = 1
    heat = np.zeros((28, 28), np.float32)
    heat[10, 12], heat[0, 0] = 2.0, -1.0
    rgb = saliency.overlay(img, heat)
    assert rgb.shape == (28, 28, 3) and rgb.dtype == np.uint8
    assert rgb[10, 12, 0] > rgb[10, 12, 2]  # positive: red
    assert rgb[0, 0, 2] > rgb[0, 0, 0]  # negative: blue
    assert (rgb[27, 27] == 255).all()  # no ink, no heat: white
    grid = saliency.tile(np.random.default_rng(0).random((20, 28, 28)), cols=10)
    assert grid.shape == (2 * 28 + 1, 10 * 28 + 9)
    assert grid.max() <= 1.0
