"""Pen strokes re-drawn with MNIST's pen -> the 28x28 image a network sees, any brush, any size.

``from_strokes`` re-draws the strokes (point lists in canvas pixels, checked by
``canvas.check_strokes``) at a pen width proportional to the digit's size, so a
small digit drawn with a fat brush comes out with MNIST-like strokes, and a drawing
far narrower than a digit a little wider (``proportion.stretch``); stray marks are
set aside, then the raster steps (``raster.to_28x28``) follow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from mnist_models.reading.canvas import check_strokes
from mnist_models.reading.proportion import FLAG, stretch
from mnist_models.reading.raster import PEN_FRACTION, Preprocessed, to_28x28
from mnist_models.reading.several import side_by_side
from mnist_models.reading.stray import STRAYS, StrayRule, stray_mask

MIN_EXTENT = 6.0  # strokes spanning fewer canvas pixels than this: a dot, not a digit


def _decimate(pts: np.ndarray, min_step: float) -> np.ndarray:
    """Keep one point per min_step of path length (and both ends): vectorised, any length."""
    if len(pts) < 3:
        return pts
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    bucket = np.floor(arc / min_step)
    keep = np.flatnonzero(np.diff(bucket, prepend=-1.0) > 0)
    if keep[-1] != len(pts) - 1:
        keep = np.append(keep, len(pts) - 1)
    return pts[keep]


def _render(
    strokes: list[np.ndarray], lo: np.ndarray, scale: np.ndarray, size: tuple[int, int], pen: float
) -> np.ndarray:
    """Strokes (canvas px) -> ink (H, W) float32, re-drawn with a round pen of `pen` px."""
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    r = pen / 2
    for s in strokes:
        pts = [(float(x), float(y)) for x, y in _decimate((s - lo) * scale + pen, pen / 4)]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=int(round(pen)))
        # Round joints and caps: a disc on every vertex. (PIL's joint="curve" does
        # the same in Python per vertex and was most of the preprocessing time.)
        for x, y in pts:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _width_below(strokes: list[np.ndarray], y: float) -> float:
    """How wide the strokes are at and below height y (canvas y grows downwards), the
    segments that cross y cut there."""
    xs = []
    for s in strokes:
        xs.append(s[s[:, 1] >= y, 0])
        a, b = s[:-1], s[1:]
        cross = (a[:, 1] - y) * (b[:, 1] - y) < 0
        if cross.any():
            t = (y - a[cross, 1]) / (b[cross, 1] - a[cross, 1])
            xs.append(a[cross, 0] + t * (b[cross, 0] - a[cross, 0]))
    x = np.concatenate(xs)
    return float(x.max() - x.min()) if x.size else 0.0


def _frame(
    strokes: list[np.ndarray], pen_fraction: float, resolution: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], float] | None:
    """Origin, (x, y) scale, image size and pen that make the strokes' longer side
    `resolution` px, a drawing far narrower than a digit (and wide under its top, unlike
    a 1 with a flag) drawn wider first (proportion.stretch)."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    ext = hi - lo
    extent = float(ext.max())
    if extent < MIN_EXTENT:
        return None
    width, height = float(ext[0]), float(ext[1])
    factor = stretch(width, height)
    if factor > 1.0:  # narrow: is it wide under its top too, or a 1's flag on a stem?
        factor = stretch(width, height, _width_below(strokes, lo[1] + FLAG * height) / width)
    widen = np.array([factor, 1.0])
    scale = widen * (resolution / float((ext * widen).max()))
    pen = max(1.0, pen_fraction * resolution)  # the pen is also the margin
    size = (
        int(np.ceil(ext[0] * scale[0] + 2 * pen)) + 1,
        int(np.ceil(ext[1] * scale[1] + 2 * pen)) + 1,
    )
    return lo, scale, size, pen


def from_strokes(
    strokes: list[np.ndarray],
    pen_fraction: float = PEN_FRACTION,
    resolution: int = 112,
    strays: StrayRule | None = STRAYS,
    several: bool = True,
) -> Preprocessed | None:
    """Pen strokes (each (k, 2) x, y points) -> 28x28 input, independent of brush and size.

    Stray marks are set aside first (steps["dropped"]); several digits side by side are
    also read one by one (``pieces``, reading/several.py; several=False reads one).
    None if there is nothing to read; DrawingRejected for malformed strokes or a drawing
    over the caps.
    """
    strokes = check_strokes(strokes)
    if not strokes:
        return None
    # Re-draw the skeleton so its longer side spans `resolution` px, with a pen
    # proportional to it; the raster pipeline then crops and scales as usual.
    frame = _frame(strokes, pen_fraction, resolution)
    if frame is None:
        return None
    lo, scale, size, pen = frame
    ink = _render(strokes, lo, scale, size, pen)
    steps = {"strokes": ink}
    kept = strokes
    dropped = stray_mask(ink, strays) if strays else None
    if dropped is not None:
        # Each stroke is one connected piece of ink, so its first point tells
        # which side it is on; the rest are re-drawn at their own scale.
        first = [
            np.clip(np.round((s[0] - lo) * scale + pen).astype(int), 0, [size[0] - 1, size[1] - 1])
            for s in strokes
        ]
        kept = [s for s, (x, y) in zip(strokes, first) if not dropped[y, x]]
        steps["dropped"] = np.where(dropped, ink, 0.0).astype(np.float32)
        frame = _frame(kept, pen_fraction, resolution) if kept else None
        if frame is None:
            return None
        ink = _render(kept, *frame)
    pre = to_28x28(ink, steps)
    if pre is not None:
        pre.widened = float(frame[1][0] / frame[1][1])
        groups = side_by_side(kept) if several else None
        if groups is not None:
            pieces = [
                from_strokes(g, pen_fraction, resolution, None, several=False) for g in groups
            ]
            pre.pieces = pieces if all(p is not None for p in pieces) else None
    return pre
