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
VARIANTS = (
    "plain",
    "rotated",
    "slanted",
    "squashed",
    "tiny",
    "tremor",
    "stray",
    "brush10",
    "brush18",
    "brush28",
)


def _anywhere(
    strokes: list[np.ndarray], rng: np.random.Generator, lo: float, hi: float, canvas: int
) -> list[np.ndarray]:
    """Longer side lo..hi of the canvas, at a random place where it fits."""
    size = rng.uniform(lo, hi) * canvas
    allp = np.concatenate(strokes)
    ext = allp.max(0) - allp.min(0)
    ext = ext * size / max(float(ext.max()), 1e-6)
    left = rng.uniform(0, canvas - ext[0])
    top = rng.uniform(0, canvas - ext[1])
    return synth.place_strokes(strokes, size, left, top)


def variant_strokes(
    strokes: list[np.ndarray], variant: str, rng: np.random.Generator, canvas: int = CANVAS
) -> list[np.ndarray]:
    """A digit's strokes (28-px coordinates) -> canvas strokes drawn as `variant` says."""
    if variant == "rotated":
        strokes = synth.rotate(strokes, float(rng.choice([-20.0, 20.0])))
    elif variant == "slanted":
        strokes = synth.shear(strokes, 0.3)
    elif variant == "squashed":
        strokes = synth.squash(strokes, 0.6)
    if variant == "tiny":
        return _anywhere(strokes, rng, 0.10, 0.15, canvas)
    placed = _anywhere(strokes, rng, 0.3, 0.9, canvas)
    if variant == "tremor":
        placed = synth.tremor(placed, rng, sd=1.5)
    elif variant == "stray":
        # A tap or a slip, at least 30% of the digit's size from its ink.
        kind = "dot" if rng.random() < 0.5 else "stroke"
        placed = synth.add_stray(placed, rng, kind, min_gap=0.3, canvas=canvas)
    return placed


def read_variant(
    strokes: list[np.ndarray], variant: str, rng: np.random.Generator, canvas: int = CANVAS
) -> pp.Preprocessed | None:
    """The 28x28 input the page would make of this digit drawn as `variant`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant.startswith("brush"):
        placed = _anywhere(strokes, rng, 0.3, 0.9, canvas)
        raster = synth.render_strokes(placed, float(variant[5:]), canvas)
        return pp.from_image(raster)
    return pp.from_strokes(variant_strokes(strokes, variant, rng, canvas))


def build(
    images: torch.Tensor | np.ndarray,
    variant: str,
    seed: int = 0,
    canvas: int = CANVAS,
    strokes: list | None = None,
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
