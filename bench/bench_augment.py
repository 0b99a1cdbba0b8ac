"""How an augmentation recipe trades MNIST test accuracy against reading drawn digits.

    python bench/bench_augment.py --model cnn --epochs 40                  # the 'drawn' style
    python bench/bench_augment.py --model cnn --epochs 40 --style jitter   # the mild jitter
    python bench/bench_augment.py --model cnn --epochs 30 --set share=0.5 --set settle=0
    python bench/bench_augment.py --model cnn --epochs 8 --set degrees=12 --set aspect=1,1

Trains one network on all 60,000 training images with a style from
mnist_models/augment.py (STYLES), changed by any --set: a field of the
Style (redrawn, share, settle, extra) or of its ranges (AugmentConfig:
degrees, scale, shift, shear, aspect, narrow, thickness_p, thicker, thinner;
pairs as lo,hi). Then it prints the MNIST test accuracy and the accuracy on
1,000 MNIST test digits drawn each way of bench/bench_drawn.py (read through
the drawing page's preprocessing), as one JSON line. A run takes as long as
its training: about 3 minutes for 40 ConvNet epochs on two quiet cores, 1.5x
that with `extra` drawn copies.

The redrawn training digits are made once and kept in <app home>/cache
(about 100 s on two cores the first time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import data
from mnist_models.drawings import (
    drawsets,
    synth,
)
from mnist_models.training import augment
from mnist_models.training.train import TrainConfig, train

SETS = ("plain", "rotated", "slanted", "squashed", "tiny", "tremor", "stray", "brush10", "brush28")


def changed(style: augment.Style, settings: list[str]) -> augment.Style:
    """The style with each 'name=value' applied (to the Style or to its ranges)."""
    ranges = style.ranges
    for item in settings:
        name, _, value = item.partition("=")
        parsed = tuple(map(float, value.split(","))) if "," in value else float(value)
        if name in {f.name for f in dataclasses.fields(augment.Style)} - {"ranges"}:
            style = dataclasses.replace(style, **{name: parsed})
        elif name in {f.name for f in dataclasses.fields(augment.AugmentConfig)}:
            ranges = dataclasses.replace(ranges, **{name: parsed})
        else:
            raise SystemExit(f"--set {item}: no such setting")
    return dataclasses.replace(style, ranges=ranges)


def drawn_sets(n: int, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """n MNIST test digits drawn each way, as (inputs, labels); the sets bench_drawn uses."""
    test = data.load_split("test")
    pick = np.random.default_rng(seed).permutation(len(test))[:n]
    images, labels = test.images[pick].numpy(), test.labels[pick].numpy()
    strokes = [synth.digit_strokes(img) for img in images]
    out = {}
    for i, variant in enumerate(drawsets.VARIANTS):
        if variant in SETS:
            x, kept = drawsets.build(images, variant, seed=seed * 100 + i, strokes=strokes)
            out[variant] = (x, torch.from_numpy(labels[kept]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--style", default="drawn", choices=sorted(augment.STYLES))
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--n", type=int, default=1000, help="drawn test digits per set")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    augment.STYLES["bench"] = changed(augment.STYLES[a.style], a.set)
    sets = drawn_sets(a.n, 0)
    t0 = time.perf_counter()
    cfg = TrainConfig(
        model=a.model,
        epochs=a.epochs,
        augment=True,
        augment_style="bench",
        seed=a.seed,
        eval_every=0,
        threads=a.threads,
    )
    result = train(cfg)
    out = {
        "model": a.model,
        "epochs": a.epochs,
        "style": a.style,
        "set": a.set,
        "seconds": round(time.perf_counter() - t0),
        "mnist": round(result.test_accuracy * 100, 2),
    }
    with torch.inference_mode():
        for name, (x, y) in sets.items():
            out[name] = round(float((result.model(x).argmax(1) == y).float().mean()) * 100, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
