"""Synthetic drawings made from real MNIST digits, for tests and benchmarks.

- ``canvas_image``: an MNIST digit enlarged onto a canvas-sized image, at a
  chosen size, position and polarity (what an upload or a raster looks like).
- ``digit_strokes``: pen paths traced along a digit's skeleton: what a person
  drawing that digit with a mouse would produce, ready to replay in a browser
  or to render at any brush width.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def _crop(digit: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def canvas_image(digit: np.ndarray, size: int, left: int, top: int, canvas: int = 280,
                 mode: str = "alpha") -> np.ndarray:
    """A uint8 digit (28, 28) scaled so its longer side is `size`, placed at (left, top).

    mode: 'alpha' (RGBA, black ink in the alpha channel, transparent background),
    'dark' (RGB dark ink on white) or 'light' (RGB white ink on black).
    """
    crop = _crop(digit)
    h, w = crop.shape
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    big = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.Resampling.BILINEAR))
    ink = np.zeros((canvas, canvas), dtype=np.uint8)
    ink[top : top + nh, left : left + nw] = big[: canvas - top, : canvas - left]
    if mode == "alpha":
        out = np.zeros((canvas, canvas, 4), dtype=np.uint8)
        out[..., 3] = ink
        return out
    gray = 255 - ink if mode == "dark" else ink
    return np.repeat(gray[..., None], 3, axis=2)


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean image to one-pixel-wide lines."""
    img = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = img
            # Neighbours P2..P9, clockwise from north.
            n = [np.roll(np.roll(p, dy, 0), dx, 1) for dy, dx in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            count = sum(v.astype(np.int8) for v in n)
            seq = n + [n[0]]
            trans = sum(((~seq[i]) & seq[i + 1]).astype(np.int8) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            kill = p & (count >= 2) & (count <= 6) & (trans == 1) & cond
            if kill.any():
                img = img & ~kill
                changed = True
        if not changed:
            return img[1:-1, 1:-1]


_NEIGHBOURS = [(-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1)]


def trace(skeleton: np.ndarray) -> list[np.ndarray]:
    """One-pixel lines -> polylines of (x, y) points, each edge walked once."""
    on = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton))}

    def nbrs(p):
        return [(p[0] + dy, p[1] + dx) for dy, dx in _NEIGHBOURS if (p[0] + dy, p[1] + dx) in on]

    used: set[frozenset] = set()
    paths = []
    # Start from line ends, then whatever is left (closed loops such as a 0).
    starts = sorted(on, key=lambda p: (len(nbrs(p)) != 1, p))
    for s in starts:
        while True:
            free = [q for q in nbrs(s) if frozenset((s, q)) not in used]
            if not free:
                break
            path, cur = [s], s
            while True:
                nxt = [q for q in nbrs(cur) if frozenset((cur, q)) not in used]
                if not nxt:
                    break
                q = nxt[0]
                used.add(frozenset((cur, q)))
                # Skip the diagonal shortcut of a 4-connected corner.
                path.append(q)
                cur = q
            if len(path) > 1:
                paths.append(np.array([(x, y) for y, x in path], dtype=np.float64))
    # Lone pixels (dots) stay as one-point strokes.
    covered = {tuple(map(int, pt)) for p in paths for pt in p}
    for y, x in on:
        if (x, y) not in covered:
            paths.append(np.array([(x, y)], dtype=np.float64))
    return paths


def digit_strokes(digit: np.ndarray, upsample: int = 4, min_points: int = 3) -> list[np.ndarray]:
    """Pen paths along a uint8 (28, 28) digit's skeleton, in 28-px coordinates (x, y)."""
    big = np.asarray(
        Image.fromarray(digit).resize((28 * upsample, 28 * upsample), Image.Resampling.BILINEAR)
    )
    skel = skeletonize(big > 100)
    paths = [p for p in trace(skel) if len(p) >= min_points] or trace(skel)
    # Long paths first (what a person draws first), thinned to every 2nd point.
    paths.sort(key=len, reverse=True)
    return [(p[:: 2 if len(p) > 4 else 1] + 0.5) / upsample for p in paths]


def place_strokes(strokes: list[np.ndarray], size: float, left: float, top: float
                  ) -> list[np.ndarray]:
    """Scale strokes so their longer side is `size` canvas px, with the box at (left, top)."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    s = size / max(float((hi - lo).max()), 1e-6)
    return [(p - lo) * s + [left, top] for p in strokes]


def render_strokes(strokes: list[np.ndarray], width: float, canvas: int = 280) -> np.ndarray:
    """Strokes drawn like the canvas does: RGBA, black ink in alpha, round pen of `width`."""
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    r = width / 2
    for s in strokes:
        pts = [tuple(p) for p in s]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=int(round(width)), joint="curve")
        for x, y in pts[:1] + pts[-1:]:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    out = np.zeros((canvas, canvas, 4), dtype=np.uint8)
    out[..., 3] = np.asarray(img)
    return out
