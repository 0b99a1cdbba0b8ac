"""The roofline's products: one training step's matrix products and convolutions, at the
network's own shapes, add up to the FLOPs the network itself counts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import roofline  # noqa: E402  (bench/ is not a package)


@pytest.mark.parametrize(("model", "forward", "step"), [("mlp", 3.05, 7.74), ("cnn", 2.79, 8.10)])
def test_the_products_of_a_step_are_the_networks_flops(model, forward, step) -> None:
    flops = roofline.network_flops(model, batch=8)
    # Counted by hand for the MLP: 2 x (784x900 + 900x900 + 900x10) forward, and the
    # backward twice that but for the images' gradient (784x900 per image).
    assert flops["forward"] / 1e6 == pytest.approx(forward, abs=0.01)
    assert flops["step"] / 1e6 == pytest.approx(step, abs=0.01)
    for dtype in (torch.float32, torch.bfloat16):
        ops = roofline.step_products(model, 8, dtype)
        assert roofline.products_flops(ops) == flops["step"] * 8


def test_the_peak_is_a_rate() -> None:
    r = roofline.peak_rate("cnn", 4, torch.float32, seconds=0.0)
    assert r["flop_per_image"] == roofline.network_flops("cnn")["step"]
    assert 0 < r["median_flop_per_s"] <= r["flop_per_s"]
