"""Drawn-digit sets: MNIST digits turned into strokes and drawn the ways people draw them.

Each MNIST digit is traced into pen strokes (``synth.digit_strokes``), then placed
on a canvas anywhere and at any size, optionally rotated, slanted, squashed, made
tiny, shaken (tremor) or given a stray mark, and read through the same code as the
drawing page (``preprocess.from_strokes``), or rendered at a fixed brush width and
read as a raster (``preprocess.from_image``). Used by bench/bench_drawn.py and to fit
the not-a-digit thresholds (on training digits only).
"""

from __future__ import annotations

import numpy as np
import torch

from . import preprocess as pp
from . import synth

CANVAS = 336
VARIANTS = ("plain", "rotated", "slanted", "squashed", "tiny", "tremor", "stray",
            "brush10", "brush18", "brush28")


def _rotate(strokes: list[np.ndarray], degrees: float) -> list[np.ndarray]:
    allp = np.concatenate(strokes)
    c = (allp.min(0) + allp.max(0)) / 2
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return [(s - c) @ rot.T + c for s in strokes]


def _slant(strokes: list[np.ndarray], shear: float) -> list[np.ndarray]:
    """Italic: the top leans right by `shear` times the height (y grows downwards)."""
    bottom = float(np.concatenate(strokes)[:, 1].max())
    return [s + np.c_[shear * (bottom - s[:, 1]), np.zeros(len(s))] for s in strokes]


def _squash(strokes: list[np.ndarray], aspect: float) -> list[np.ndarray]:
    return [s * [aspect, 1.0] for s in strokes]


def _anywhere(strokes: list[np.ndarray], rng: np.random.Generator, lo: float, hi: float,
              canvas: int) -> list[np.ndarray]:
    """Longer side lo..hi of the canvas, at a random place where it fits."""
    size = rng.uniform(lo, hi) * canvas
    allp = np.concatenate(strokes)
    ext = allp.max(0) - allp.min(0)
    ext = ext * size / max(float(ext.max()), 1e-6)
    left = rng.uniform(0, canvas - ext[0])
    top = rng.uniform(0, canvas - ext[1])
    return synth.place_strokes(strokes, size, left, top)


def _stray(strokes: list[np.ndarray], rng: np.random.Generator, canvas: int) -> list[np.ndarray]:
    """Add a dot (a tap) or a short stroke (a slip) somewhere clear of the digit."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    for _ in range(100):
        p = rng.uniform(5, canvas - 5, size=2)
        # At least 20 px outside the digit's box: a mark, not a part of the digit.
        gap = np.maximum(np.maximum(lo - p, p - hi), 0)
        if float(gap.max()) >= 20:
            break
    if rng.random() < 0.5:
        mark = p + rng.normal(0, 0.7, size=(2, 2))  # a dot: a tap of two points
    else:
        a = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(8, 25)
        mark = p + np.linspace(0, length, 5)[:, None] * [np.cos(a), np.sin(a)]
    return [*strokes, np.clip(mark, 0, canvas - 1)]


def variant_strokes(strokes: list[np.ndarray], variant: str, rng: np.random.Generator,
                    canvas: int = CANVAS) -> list[np.ndarray]:
    """A digit's strokes (28-px coordinates) -> canvas strokes drawn as `variant` says."""
    if variant == "rotated":
        strokes = _rotate(strokes, float(rng.choice([-20.0, 20.0])))
    elif variant == "slanted":
        strokes = _slant(strokes, 0.3)
    elif variant == "squashed":
        strokes = _squash(strokes, 0.6)
    if variant == "tiny":
        return _anywhere(strokes, rng, 0.10, 0.15, canvas)
    placed = _anywhere(strokes, rng, 0.3, 0.9, canvas)
    if variant == "tremor":
        placed = [s + rng.normal(0, 1.5, size=s.shape) for s in placed]
    elif variant == "stray":
        placed = _stray(placed, rng, canvas)
    return placed


def read_variant(strokes: list[np.ndarray], variant: str, rng: np.random.Generator,
                 canvas: int = CANVAS) -> pp.Preprocessed | None:
    """The 28x28 input the page would make of this digit drawn as `variant`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant.startswith("brush"):
        placed = _anywhere(strokes, rng, 0.3, 0.9, canvas)
        raster = synth.render_strokes(placed, float(variant[5:]), canvas)
        return pp.from_image(raster)
    return pp.from_strokes(variant_strokes(strokes, variant, rng, canvas))


def build(images: torch.Tensor | np.ndarray, variant: str, seed: int = 0,
          canvas: int = CANVAS, strokes: list | None = None
          ) -> tuple[torch.Tensor, np.ndarray]:
    """(inputs (M, 1, 28, 28), kept (N,) bool): uint8 digits drawn as `variant`.

    Digits that come out as "nothing to read" are left out; `kept` says which.
    Pass `strokes` (from ``synth.digit_strokes``) to trace each digit only once.
    """
    rng = np.random.default_rng(seed)
    imgs = np.asarray(images)
    xs, kept = [], np.zeros(len(imgs), dtype=bool)
    for i, img in enumerate(imgs):
        s = strokes[i] if strokes is not None else synth.digit_strokes(img)
        pre = read_variant(s, variant, rng, canvas)
        if pre is not None:
            xs.append(pre.image)
            kept[i] = True
    x = torch.from_numpy(np.stack(xs)).unsqueeze(1) if xs else torch.zeros(0, 1, 28, 28)
    return x, kept
