"""Synthetic drawings made from real MNIST digits, for tests and benchmarks.

- ``canvas_image``: an MNIST digit enlarged onto a canvas-sized image, at a
  chosen size, position and polarity (what an upload or a raster looks like).
- ``digit_strokes``: pen paths traced along a digit's skeleton: what a person
  drawing that digit with a mouse would produce, ready to replay in a browser
  or to render at any brush width.
- Variants of placed strokes, as people draw: ``add_stray`` (a tap or a slip
  away from the digit), ``with_gaps`` and ``dashed`` (pen lifted mid-stroke),
  ``rotate``, ``shear``, ``squash`` and ``tremor``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def _crop(digit: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def canvas_image(
    digit: np.ndarray, size: int, left: int, top: int, canvas: int = 280, mode: str = "alpha"
) -> np.ndarray:
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


# Neighbours P2..P9 of Zhang-Suen thinning, clockwise from north, as (dy, dx) offsets.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _thinning_tables() -> np.ndarray:
    """For each of the 256 neighbourhoods (bit i set when P(i+2) is ink), whether Zhang-Suen
    removes the pixel in its first (row 0) and its second (row 1) sub-iteration."""
    bits = [(np.arange(256) >> i) & 1 for i in range(8)]
    count = sum(bits)
    trans = sum((1 - bits[i]) & bits[(i + 1) % 8] for i in range(8))
    p2, p4, p6, p8 = bits[0], bits[2], bits[4], bits[6]
    base = (count >= 2) & (count <= 6) & (trans == 1)
    first = base & ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
    second = base & ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
    return np.stack([first, second]).astype(bool)


_THIN = _thinning_tables()


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean image to one-pixel-wide lines (each sub-iteration
    looks up every pixel's 8-neighbourhood, as a byte, in a table of the rule)."""
    img = np.pad(mask.astype(bool), 1)
    h, w = mask.shape
    inner = img[1:-1, 1:-1]  # a view: removing ink from it removes it from img
    while True:
        changed = False
        for step in (0, 1):
            code = np.zeros((h, w), dtype=np.uint8)
            for i, (dy, dx) in enumerate(_RING):
                code |= img[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w].view(np.uint8) << i
            kill = inner & _THIN[step][code]
            if kill.any():
                inner &= ~kill
                changed = True
        if not changed:
            return inner.copy()


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


def place_strokes(
    strokes: list[np.ndarray], size: float, left: float, top: float
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


# --- variants of drawn digits (strokes in canvas px), for tests and benchmarks -----


def _extent(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    return lo, hi, float((hi - lo).max())


def _dense(strokes: list[np.ndarray], step: float = 2.0) -> np.ndarray:
    """Points every `step` px along the strokes (for distances to the ink)."""
    out = []
    for s in strokes:
        out.append(s[:1])
        for a, b in zip(s[:-1], s[1:]):
            n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
            out.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
    return np.concatenate(out)


def add_stray(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    kind: str = "dot",
    min_gap: float = 0.3,
    canvas: int = 336,
    tries: int = 200,
) -> list[np.ndarray]:
    """The strokes plus a stray mark at a random place on the canvas, away from the digit.

    kind: 'dot' (a tap: two points 1 px apart) or 'stroke' (a short straight
    slip, 10-25% of the digit's size, any direction). The mark's nearest point
    is at least `min_gap` times the digit's size from the digit's ink skeleton.
    """
    _, _, size = _extent(strokes)
    ink = _dense(strokes)
    best, best_d = None, -1.0
    for _ in range(tries):
        start = rng.uniform(0, canvas, 2)
        if kind == "dot":
            mark = np.array([start, start + [1.0, 0.0]])
        else:
            angle = rng.uniform(0, np.pi)
            end = start + rng.uniform(0.10, 0.25) * size * np.array([np.cos(angle), np.sin(angle)])
            mark = np.array([start, end])
        if not ((mark >= 0) & (mark <= canvas)).all():
            continue
        d = float(np.sqrt(((_dense([mark])[:, None] - ink[None]) ** 2).sum(-1)).min())
        if d >= min_gap * size:
            return [*strokes, mark]
        if d > best_d:
            best, best_d = mark, d
    return [*strokes, best]


def with_gaps(
    strokes: list[np.ndarray], rng: np.random.Generator, gap: float = 0.08, cuts: int = 2
) -> list[np.ndarray]:
    """Cut `cuts` gaps of `gap` x the digit's size into the strokes (pen lifted and put down)."""
    _, _, size = _extent(strokes)
    pieces = [_dense([s], 1.0) if len(s) > 1 else s for s in strokes]
    for _ in range(cuts):
        lengths = np.array([len(p) for p in pieces], dtype=float)
        k = int(rng.choice(len(pieces), p=lengths / lengths.sum()))
        p = pieces[k]
        g = int(round(gap * size))  # points are 1 px apart
        if len(p) < g + 6:
            continue
        at = int(rng.integers(2, len(p) - g - 2))
        pieces[k : k + 1] = [p[:at], p[at + g :]]
    return pieces


def dashed(strokes: list[np.ndarray], dash: float = 0.12, gap: float = 0.05) -> list[np.ndarray]:
    """The digit drawn as dashes: `dash` of its size drawn, `gap` left out, along every stroke."""
    _, _, size = _extent(strokes)
    on, off = max(1, int(round(dash * size))), max(1, int(round(gap * size)))
    out = []
    for s in strokes:
        p = _dense([s], 1.0)
        out += [p[i : i + on] for i in range(0, len(p), on + off) if len(p[i : i + on])]
    return out


def _affine(strokes: list[np.ndarray], m: np.ndarray) -> list[np.ndarray]:
    lo, hi, _ = _extent(strokes)
    c = (lo + hi) / 2
    return [(s - c) @ m.T + c for s in strokes]


def rotate(strokes: list[np.ndarray], degrees: float) -> list[np.ndarray]:
    """Rotated about the centre of their box (positive: clockwise on screen)."""
    r = np.deg2rad(degrees)
    return _affine(strokes, np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]]))


def shear(strokes: list[np.ndarray], k: float) -> list[np.ndarray]:
    """Slanted like italics: x shifts by -k times the height above the centre."""
    return _affine(strokes, np.array([[1.0, -k], [0.0, 1.0]]))


def squash(strokes: list[np.ndarray], aspect: float) -> list[np.ndarray]:
    """Narrowed: widths times `aspect`, heights kept."""
    return _affine(strokes, np.array([[aspect, 0.0], [0.0, 1.0]]))


def tremor(
    strokes: list[np.ndarray], rng: np.random.Generator, sd: float = 1.5
) -> list[np.ndarray]:
    """A shaky hand: Gaussian noise of `sd` px on every point."""
    return [s + rng.normal(0, sd, s.shape) for s in strokes]
