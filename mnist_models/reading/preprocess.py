"""Drawings and photos -> the 28x28 image a network sees, the way MNIST was made.

MNIST digits were size-normalised to fit a 20x20 box (keeping the aspect
ratio, anti-aliased), then placed in 28x28 with their centre of mass at the
centre. Two entry points do the same here:

- ``from_image``: any raster (canvas RGBA with transparent background, or an
  opaque photo/scan, dark-on-light or light-on-dark).
- ``from_strokes``: pen strokes as point lists (the canvas's vector data).
  They are re-drawn at a pen width proportional to the digit's size, so the
  brush width and the drawing size no longer matter: a small digit drawn
  with a fat brush comes out with MNIST-like strokes.

Both first set aside stray marks (small pieces of ink far from the digit: a
slip of the finger, a tap) and return ``None`` for "nothing to read" (blank or
near-blank input).

Everything that comes from a browser or a file is validated and bounded before
it costs anything: ``strokes_from_fabric`` and ``from_strokes`` raise
``DrawingRejected``, ``read_image`` raises ``ImageRejected``, each with a
one-sentence message meant for the visitor.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw

BOX = 20  # MNIST's size-normalisation box
SIZE = 28
# Pen width for re-drawn strokes, as a fraction of the digit's longer side.
# Calibrated on MNIST: digits skeletonised and re-drawn at this width are read
# best by the shipped networks (see tests/test_preprocess.py).
PEN_FRACTION = 0.15
MIN_INK_PIXELS = 12  # fewer strong ink pixels than this: nothing to read
MIN_CONTRAST = 0.15  # darkest ink must differ this much from the background
MIN_EXTENT = 6.0  # strokes spanning fewer canvas pixels than this: a dot, not a digit


# Stray marks. Ink is judged on a coarse grid of `grid` cells across the longer
# side of everything drawn, as re-drawn with the MNIST-thick pen (15% of that
# side, which already joins the gaps of a digit drawn in pieces). Pieces whose
# ink touches are one cluster. A cluster is set aside when it carries less
# than `mass` of the heaviest cluster's ink and its gap to that cluster is at
# least (dist + dist_per_mass * its share of that ink) times that cluster's
# size: a tap far off goes, a detached bar of a 5 or a 7 (a larger share,
# nearer) stays. Chosen by measurement (bench/bench_stray.py prints the
# figures) on MNIST test digits drawn as strokes, with and without a stray dot
# or short stroke, with gaps cut into their strokes, and drawn as dashes: the
# most strays set aside with no digit of the sets without strays read worse.
# A flat distance of 0.1 dropped the detached top bar of a 5, a 7's bar and
# a 9's loop end found among plain MNIST digits.
@dataclass(frozen=True)
class StrayRule:
    """When a piece of ink is a stray mark: see stray_mask."""

    grid: int = 28
    mass: float = 0.5
    dist: float = 0.05
    dist_per_mass: float = 1.0  # heavier pieces must lie farther away to be set aside


STRAYS = StrayRule()


class DrawingRejected(ValueError):
    """Canvas data that will not be read; str() is one sentence for the visitor."""


class ImageRejected(ValueError):
    """An upload that will not be read; str() is one sentence for the visitor."""


@dataclass
class Preprocessed:
    """The network input and the steps that led to it (all float32 in [0, 1], ink = 1)."""

    image: np.ndarray  # (28, 28)
    # name -> 2-D array. "dropped" (when present) has the shape of "ink" or
    # "strokes" and holds only the ink that was ignored as stray marks.
    steps: dict[str, np.ndarray] = field(default_factory=dict)

    def tensor(self) -> torch.Tensor:
        """(1, 1, 28, 28) float tensor for the models (which normalise internally)."""
        return torch.from_numpy(self.image).reshape(1, 1, SIZE, SIZE)


def ink_map(img: np.ndarray) -> np.ndarray:
    """Any image (H, W), (H, W, 3) or (H, W, 4) -> ink in [0, 1] (H, W), whatever the polarity."""
    a = np.asarray(img)
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected a 2-D image, got an array of shape {a.shape}")
    a = a.astype(np.float32)
    if a.max(initial=0) > 1.0:
        a = a / 255.0
    alpha = a[..., 3] if a.ndim == 3 and a.shape[2] == 4 else None
    if alpha is not None and float(np.median(_border(alpha))) < 0.5:
        # Transparent surroundings (the canvas): the drawing is in the alpha
        # channel. Ink drawn in a light colour still counts as ink.
        ink = alpha
    else:
        gray = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if a.ndim == 3 else a
        # The background is what surrounds the digit, whatever its alpha: an
        # opaque photo with transparent rounded corners keeps its paper colour
        # there, instead of reading the corners as ink.
        if alpha is not None:
            seen = _border(alpha) >= 0.5
            bg_gray = float(np.median(_border(gray)[seen]))
            gray = alpha * gray + (1.0 - alpha) * bg_gray
        bg = float(np.median(_border(gray)))
        ink = bg - gray if bg >= 0.5 else gray - bg
    top = float(ink.max(initial=0))
    if top < MIN_CONTRAST:  # paper grain or sensor noise, not ink
        return np.zeros(a.shape[:2], dtype=np.float32)
    # Photos have noise and uneven paper; drop what is faint next to the
    # strongest ink, then stretch the rest to [0, 1].
    floor = 0.25 * top
    return np.clip((ink - floor) / (top - floor), 0.0, 1.0).astype(np.float32)


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def _is_blank(ink: np.ndarray) -> bool:
    strong = int((ink > 0.5).sum())
    return strong < MIN_INK_PIXELS


def _to_20(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is 20 px, keeping the aspect ratio, anti-aliased."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    pil = Image.fromarray(crop.astype(np.float32), mode="F")
    # BOX (area averaging) when shrinking is the anti-aliasing MNIST used;
    # bilinear when a tiny input has to grow.
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.clip(np.asarray(pil.resize((nw, nh), resample=resample)), 0.0, 1.0)


def _centre_of_mass(small: np.ndarray) -> np.ndarray:
    """Paste into 28x28 so that the centre of mass lands on the centre."""
    h, w = small.shape
    total = float(small.sum())
    ys, xs = np.mgrid[0:h, 0:w]
    cy = float((ys * small).sum() / total) if total > 0 else (h - 1) / 2
    cx = float((xs * small).sum() / total) if total > 0 else (w - 1) / 2
    # Top-left corner that puts the mass centre on the image centre (13.5, 13.5).
    centre = (SIZE - 1) / 2
    top = int(round(centre - cy))
    left = int(round(centre - cx))
    top = min(max(top, 0), SIZE - h)  # keep the whole digit inside
    left = min(max(left, 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + h, left : left + w] = small
    return out


def _finish(ink: np.ndarray, steps: dict[str, np.ndarray]) -> Preprocessed | None:
    if _is_blank(ink):
        return None
    rows = np.flatnonzero((ink > 0.1).any(axis=1))
    cols = np.flatnonzero((ink > 0.1).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    small = _to_20(crop)
    final = _centre_of_mass(small)
    steps.update({"crop": crop, "20x20": small, "28x28": final})
    return Preprocessed(final, steps)


# A raster whose strokes are thinner than this fraction of the digit's longer side
# (a fine pen on a large digit: faint hairlines once scaled to 20 px) is thickened
# towards the drawing page's pen; thicker ones are left as they are.
THIN_BELOW = 0.06


def stroke_width(ink: np.ndarray) -> float:
    """About how wide the strokes are, in pixels: twice the ink's area over its rim
    (a stroke of width w and length L has area w*L and a rim of about 2*L)."""
    mask = ink > 0.5
    area = int(mask.sum())
    if area == 0:
        return 0.0
    grown = _dilate(mask, 1)
    return 2.0 * area / max(1, int(grown.sum()) - area)


def _thickened(ink: np.ndarray) -> np.ndarray:
    """Thin strokes grown towards the page's pen width; anything else unchanged."""
    rows = np.flatnonzero((ink > 0.1).any(axis=1))
    cols = np.flatnonzero((ink > 0.1).any(axis=0))
    if len(rows) == 0:
        return ink
    size = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    width = stroke_width(ink)
    if width <= 0 or width >= THIN_BELOW * size:
        return ink
    target = PEN_FRACTION / (1 + PEN_FRACTION) * size
    r = int(round((target - width) / 2))
    if r < 1:
        return ink
    return _max_window(_max_window(ink, r).T, r).T.copy()


def _max_window(a: np.ndarray, r: int) -> np.ndarray:
    """Each pixel's maximum over the 2r+1 rows around it (outside: 0), in O(log r) passes."""
    k = 2 * r + 1
    out = np.pad(a, ((r, r), (0, 0)))
    span = 1  # out[i] is the maximum of `span` padded rows from i
    while span * 2 <= k:
        out = np.maximum(out[:-span], out[span:])
        span *= 2
    if span < k:
        rest = k - span
        out = np.maximum(out[:-rest], out[rest:])
    return out


def from_image(img: np.ndarray, strays: StrayRule | None = STRAYS) -> Preprocessed | None:
    """A raster image -> 28x28 MNIST-style input (stray marks set aside, hairline
    strokes thickened), or None if no ink."""
    ink = ink_map(img)
    steps = {"ink": ink}
    # A raster keeps its own stroke width: judge it as if re-drawn with the pen.
    dropped = stray_mask(ink, strays, pen=PEN_FRACTION) if strays else None
    if dropped is not None:
        steps["dropped"] = np.where(dropped, ink, 0.0).astype(np.float32)
        ink = np.where(dropped, 0.0, ink).astype(np.float32)
    return _finish(_thickened(ink), steps)


# --- stray marks -------------------------------------------------------------------


def _runs_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected pieces of a small boolean image; (labels with -1 off ink, count).

    Rows are cut into runs and touching runs of neighbouring rows are joined
    with union-find: a few dozen runs on the coarse grid, so no per-pixel loop.
    """
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rs, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # exclusive; row-major order pairs them with starts
    n = len(starts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bounds = np.searchsorted(rs, np.arange(h + 1))
    s, e = starts.tolist(), ends.tolist()
    for r in range(h - 1):
        i, i_end = int(bounds[r]), int(bounds[r + 1])
        j, j_end = i_end, int(bounds[r + 2])
        while i < i_end and j < j_end:
            if s[j] <= e[i] and s[i] <= e[j]:  # overlapping or diagonal neighbours
                parent[find(i)] = find(j)
            if e[i] < e[j]:
                i += 1
            else:
                j += 1
    roots = [find(i) for i in range(n)]
    ids = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    labels = np.full((h, w), -1, dtype=np.int32)
    for r, a, b, root in zip(rs.tolist(), s, e, roots):
        labels[r, a:b] = ids[root]
    return labels, len(ids)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Grow a boolean image by r cells in every direction (a square of side 2r+1)."""
    if r <= 0:
        return mask
    h, w = mask.shape
    # Separable max over a window: cumulative sums make each pass one subtraction.
    c = np.pad(mask, ((r + 1, r), (0, 0))).astype(np.int32).cumsum(axis=0)
    rows = (c[2 * r + 1 :] - c[:h]) > 0
    c = np.pad(rows, ((0, 0), (r + 1, r))).astype(np.int32).cumsum(axis=1)
    return (c[:, 2 * r + 1 :] - c[:, :w]) > 0


def stray_mask(ink: np.ndarray, rule: StrayRule = STRAYS, pen: float = 0.0) -> np.ndarray | None:
    """Boolean mask (ink's shape) of stray marks: light pieces of ink far from the digit.

    `pen` (a fraction of the longer side) thickens the ink first, as if it had
    been re-drawn with that pen; strokes re-drawn by from_strokes need none.
    None when there is nothing to set aside. Cost is bounded by the coarse grid
    (grid x grid cells), whatever the size of the image.
    """
    on = ink > 0.1
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if len(rows) == 0:
        return None
    r0, c0 = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) + 1 - r0, int(cols[-1]) + 1 - c0
    block = max(1, math.ceil(max(h, w) / rule.grid))
    gh, gw = math.ceil(h / block), math.ceil(w / block)
    box = np.zeros((gh * block, gw * block), dtype=np.float32)
    box[:h, :w] = np.where(on[r0 : r0 + h, c0 : c0 + w], ink[r0 : r0 + h, c0 : c0 + w], 0.0)
    cells = box.reshape(gh, block, gw, block).sum(axis=(1, 3))  # ink per coarse cell
    occupied = cells > 0
    labels, n = _runs_labels(_dilate(occupied, round(pen * rule.grid / 2)))
    if n < 2:
        return None
    labels = np.where(occupied, labels, -1)
    weights = np.bincount(labels[occupied], weights=cells[occupied], minlength=n)
    main = int(weights.argmax())
    light = np.flatnonzero(weights < rule.mass * weights[main])
    if len(light) == 0:
        return None
    main_cells = np.argwhere(labels == main)  # (m, 2)
    size = float((main_cells.max(0) - main_cells.min(0) + 1).max())
    far = []
    for k in light.tolist():
        piece = np.argwhere(labels == k)  # at most grid x grid cells in all pieces
        gap = np.sqrt(((piece[:, None, :] - main_cells[None]) ** 2).sum(-1)).min() - 1
        share = weights[k] / weights[main]
        if gap >= (rule.dist + rule.dist_per_mass * share) * size:
            far.append(k)
    if not far:
        return None
    coarse = np.isin(labels, far)  # cells of the pieces to set aside
    fine = np.zeros(ink.shape, dtype=bool)
    grown = np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)[:h, :w]
    fine[r0 : r0 + h, c0 : c0 + w] = grown & on[r0 : r0 + h, c0 : c0 + w]
    return fine


# --- vector strokes -------------------------------------------------------------

# Caps per drawing, checked before any costly work. A digit drawn with the
# mouse or a finger is 1-5 strokes; the canvas records one pen position per
# pointer event (about 60-120 a second) and sends each as a quadratic segment
# of 2 coordinate pairs: a slow, careful 5 s digit is about 600 positions,
# 1,200 pairs. The caps leave more than ten times that.
MAX_STROKES = 200  # canvas objects, and strokes (pen-down to pen-up) in all
MAX_POINTS = 20_000  # coordinate pairs in all
MAX_COORD = 100_000.0  # canvas pixels; canvases are 336-560 px

_NUMBER = (int, float, np.integer, np.floating)
_BOOL = (bool, np.bool_)
_FABRIC_OPS = {"M": 1, "L": 1, "Q": 2, "C": 3, "Z": 0}  # coordinate pairs per command
_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}
_TOO_MANY_STROKES = (
    f"This drawing has too many strokes (the limit is {MAX_STROKES}); "
    "clear the canvas and draw one digit."
)
_TOO_MANY_POINTS = (
    f"This drawing has too many points (the limit is {MAX_POINTS:,}); "
    "clear the canvas and draw one digit."
)
_MALFORMED = "The drawing data from the canvas is malformed; clear the canvas and draw again."
_BAD_COORD = "The drawing has coordinates that are not finite numbers on the canvas."


def _number(v: object, default: float | None = None) -> float:
    """A finite JSON number within the canvas bounds (None -> default), else DrawingRejected."""
    if v is None and default is not None:
        return default
    # bool is an int in Python but never a coordinate; strings are refused, not parsed.
    if isinstance(v, _BOOL) or not isinstance(v, _NUMBER):
        raise DrawingRejected(_BAD_COORD)
    if not abs(v) <= MAX_COORD:  # also NaN; compared before any float() of a huge int
        raise DrawingRejected(_BAD_COORD)
    return float(v)


def _path_points(paths: list[list]) -> tuple[list[np.ndarray], list[int]]:
    """Fabric.js path commands of every object -> polylines, and each one's object index.

    A curve becomes as many points as it has coordinate pairs (the canvas's
    quadratic segments join consecutive pointer positions a few pixels apart),
    so the points out never exceed the pairs sent. Python only checks types;
    the geometry is done for the whole drawing at once.
    """
    ops: list[int] = []  # pairs per command: 1 (M, L), 2 (Q), 3 (C)
    starts: list[bool] = []  # a move, or an object's first command: a new stroke
    owner: list[int] = []
    rows: list[list] = []
    pairs = 0
    for i, commands in enumerate(paths):
        first = True
        for cmd in commands:
            if type(cmd) not in (list, tuple) or not cmd or type(cmd[0]) is not str:
                raise DrawingRejected(_MALFORMED)
            n = _FABRIC_OPS.get(cmd[0])
            if n is None:
                continue  # other SVG commands never come from free drawing
            if len(cmd) != 1 + 2 * n:
                raise DrawingRejected(_MALFORMED)
            pairs += n
            if pairs > MAX_POINTS:
                raise DrawingRejected(_TOO_MANY_POINTS)
            if n == 0:
                continue
            args = cmd[1:]
            for v in args:
                # Numbers only: strings are refused, not parsed; bool is no coordinate.
                t = type(v)
                if (
                    t is not float
                    and t is not int
                    and (not isinstance(v, _NUMBER) or isinstance(v, _BOOL))
                ):
                    raise DrawingRejected(_BAD_COORD)
            ops.append(n)
            starts.append(first or cmd[0] == "M")
            owner.append(i)
            rows.append([*args, *_PAD[n]])
            first = False
    if not ops:
        return [], []
    try:
        a = np.array(rows, dtype=np.float64).reshape(-1, 3, 2)  # (n, up to 3 pairs, xy)
    except (OverflowError, TypeError):  # integers beyond any float (True is refused above)
        raise DrawingRejected(_BAD_COORD) from None
    if not (np.abs(a) <= MAX_COORD).all():  # also NaN and infinities
        raise DrawingRejected(_BAD_COORD)
    k = np.array(ops)
    new = np.array(starts)
    end = a[np.arange(len(k)), k - 1]  # (n, 2) where each command leaves the pen
    start = np.where(new[:, None], end, np.roll(end, 1, axis=0))  # where it found the pen
    pts = np.repeat(end[:, None], 3, axis=1)  # (n, 3, 2), only the first k used
    q, c = k == 2, k == 3
    # Quadratic: its point at t = 1/2, then its end.
    pts[q, 0] = 0.25 * start[q] + 0.5 * a[q, 0] + 0.25 * end[q]
    # Cubic: its points at t = 1/3 and 2/3, then its end.
    for j, t in ((0, 1 / 3), (1, 2 / 3)):
        pts[c, j] = (
            (1 - t) ** 3 * start[c]
            + 3 * (1 - t) ** 2 * t * a[c, 0]
            + 3 * (1 - t) * t**2 * a[c, 1]
            + t**3 * end[c]
        )
    flat = pts[np.arange(3)[None, :] < k[:, None]]  # in drawing order
    first_cmd = np.flatnonzero(new)
    if len(first_cmd) > MAX_STROKES:
        raise DrawingRejected(_TOO_MANY_STROKES)
    cuts = np.cumsum(k)[first_cmd[1:] - 1]  # point index where each later stroke begins
    return np.split(flat, cuts), np.array(owner)[first_cmd].tolist()


_PAD = {1: [0.0] * 4, 2: [0.0] * 2, 3: []}


def strokes_from_fabric(json_data: object) -> list[np.ndarray]:
    """The free-drawn paths of a streamlit-drawable-canvas result, in canvas pixels.

    None or no objects -> []. Unknown object types are skipped. Malformed data,
    coordinates that are not finite numbers, or a drawing over MAX_STROKES or
    MAX_POINTS -> DrawingRejected, refused before any costly work.
    """
    if json_data is None:
        return []
    if not isinstance(json_data, dict):
        raise DrawingRejected(_MALFORMED)
    objects = json_data.get("objects")
    if objects is None:
        return []
    if not isinstance(objects, list):
        raise DrawingRejected(_MALFORMED)
    if len(objects) > MAX_STROKES:
        raise DrawingRejected(_TOO_MANY_STROKES)
    found, paths = [], []
    for obj in objects:
        if not isinstance(obj, dict):
            raise DrawingRejected(_MALFORMED)
        kind = obj.get("type")
        if not isinstance(kind, str) or kind.lower() != "path":
            continue
        path = obj.get("path")
        if path is None:
            continue
        if not isinstance(path, list):
            raise DrawingRejected(_MALFORMED)
        found.append(obj)
        paths.append(path)
    # Every command carries at least one pair (or is a rare close): a cheap
    # count that refuses huge drawings before anything is parsed.
    if sum(len(p) for p in paths) > MAX_POINTS:
        raise DrawingRejected(_TOO_MANY_POINTS)
    lines, owners = _path_points(paths)
    strokes: list[np.ndarray] = []
    for i, obj in enumerate(found):
        mine = [line for line, o in zip(lines, owners) if o == i]
        if mine:
            strokes.extend(_placed(mine, obj))
    return strokes


def _placed(lines: list[np.ndarray], obj: dict) -> list[np.ndarray]:
    """Path coordinates -> canvas pixels, for an object moved or transformed in edit mode."""
    # Fresh strokes keep canvas pixels as path coordinates. An object moved,
    # scaled, rotated or flipped in edit mode carries that in left/top (at its
    # origin), scale, angle and flip, around the centre of its path box.
    sx, sy = _number(obj.get("scaleX"), 1.0), _number(obj.get("scaleY"), 1.0)
    sx *= -1 if obj.get("flipX") is True else 1
    sy *= -1 if obj.get("flipY") is True else 1
    angle = _number(obj.get("angle"), 0.0)
    if (sx, sy, angle) == (1.0, 1.0, 0.0):
        return lines
    allp = np.concatenate(lines)
    centre_path = (allp.min(0) + allp.max(0)) / 2
    w = _number(obj.get("width"), 0.0) * abs(sx)
    h = _number(obj.get("height"), 0.0) * abs(sy)
    ox, oy = (_origin(obj.get(k), d) for k, d in (("originX", 0.0), ("originY", 0.0)))
    centre = np.array(
        [
            _number(obj.get("left"), 0.0) + (0.5 - ox) * w,
            _number(obj.get("top"), 0.0) + (0.5 - oy) * h,
        ]
    )
    rad = np.deg2rad(angle)
    rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    out = [((pts - centre_path) * [sx, sy]) @ rot.T + centre for pts in lines]
    if any(not (np.abs(p) <= MAX_COORD).all() for p in out):  # also NaN
        raise DrawingRejected(_BAD_COORD)
    return out


def _origin(v: object, default: float) -> float:
    """Fabric's originX/Y: a name or a fraction of the box; anything else -> default."""
    if isinstance(v, str):
        return _ORIGIN.get(v, default)
    if isinstance(v, _NUMBER) and not isinstance(v, _BOOL) and abs(v) <= 1.0:
        return float(v)
    return default


def _checked_strokes(strokes: object) -> list[np.ndarray]:
    """Validate pen strokes: a list of (k, 2) finite coordinates within the caps."""
    if not isinstance(strokes, (list, tuple)):
        raise DrawingRejected(_MALFORMED)
    if len(strokes) > MAX_STROKES:
        raise DrawingRejected(_TOO_MANY_STROKES)
    out, total = [], 0
    for s in strokes:
        # len() first: a huge point list is refused before numpy copies it.
        try:
            total += len(s)
        except TypeError:
            raise DrawingRejected(_MALFORMED) from None
        if total > MAX_POINTS:
            raise DrawingRejected(_TOO_MANY_POINTS)
        try:
            a = np.asarray(s)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise DrawingRejected(_MALFORMED) from None
        if a.size == 0:
            continue
        if a.dtype.kind not in "iuf":  # strings, booleans, None, nested objects
            raise DrawingRejected(_BAD_COORD)
        if a.ndim != 2 or a.shape[1] != 2:
            raise DrawingRejected(_MALFORMED)
        a = a.astype(np.float64)
        if not np.isfinite(a).all() or np.abs(a).max() > MAX_COORD:
            raise DrawingRejected(_BAD_COORD)
        out.append(a)
    return out


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
    strokes: list[np.ndarray], lo: np.ndarray, scale: float, size: tuple[int, int], pen: float
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


def _frame(
    strokes: list[np.ndarray], pen_fraction: float, resolution: int
) -> tuple[np.ndarray, float, tuple[int, int], float] | None:
    """Origin, scale, image size and pen that make the strokes' longer side `resolution` px."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    extent = float((hi - lo).max())
    if extent < MIN_EXTENT:
        return None
    scale = resolution / extent
    pen = max(1.0, pen_fraction * resolution)  # the pen is also the margin
    size = (
        int(np.ceil((hi - lo)[0] * scale + 2 * pen)) + 1,
        int(np.ceil((hi - lo)[1] * scale + 2 * pen)) + 1,
    )
    return lo, scale, size, pen


def from_strokes(
    strokes: list[np.ndarray],
    pen_fraction: float = PEN_FRACTION,
    resolution: int = 112,
    strays: StrayRule | None = STRAYS,
) -> Preprocessed | None:
    """Pen strokes (each (k, 2) x, y points) -> 28x28 input, independent of brush and size.

    Stray marks are set aside first (steps["dropped"]). None if there is nothing
    to read; DrawingRejected for malformed strokes or a drawing over the caps.
    """
    strokes = _checked_strokes(strokes)
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
    return _finish(ink, steps)


# --- uploads ---------------------------------------------------------------------

MAX_UPLOAD_PIXELS = 40_000_000  # larger images are refused (decompression bombs)
WORK_SIDE = 600  # uploads are shrunk to this longer side before reading the ink
# Detected from the file's content, never its name: other formats Pillow knows
# (TIFF, EPS via Ghostscript, ...) are never even tried.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_ORIENTATION = {  # EXIF orientation -> the transpose that undoes it
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class DecodeGate:
    """At most `slots` heavy image decodes at once; others wait up to `wait_s`, then are refused.

    One gate per process bounds the memory that simultaneous uploads can take.
    """

    def __init__(self, slots: int = 2, wait_s: float = 10.0) -> None:
        self._sem = threading.BoundedSemaphore(slots)
        self.wait_s = wait_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one decode slot; ImageRejected if none frees up within wait_s."""
        if not self._sem.acquire(timeout=self.wait_s):
            raise ImageRejected("the server is busy reading other images, try again")
        try:
            yield
        finally:
            self._sem.release()


DECODES = DecodeGate()  # shared by every upload in this process


def read_image(
    data: bytes, max_pixels: int = MAX_UPLOAD_PIXELS, gate: DecodeGate = DECODES
) -> np.ndarray:
    """Image file bytes -> grey, RGB or RGBA uint8 array (WORK_SIDE a side at most)."""
    from PIL import UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise ImageRejected("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(UPLOAD_FORMATS))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageRejected(
                    f"the image is too large ({w}x{h} pixels); the limit is "
                    f"{max_pixels // 1_000_000} million pixels"
                )
            # Phone photos carry their rotation in EXIF; read it before the
            # decode and apply it to the small image, not the full one.
            try:
                orientation = img.getexif().get(0x0112)
            except Exception:  # a damaged EXIF block costs only the rotation
                orientation = None
            with gate.slot():
                if img.format == "JPEG":
                    # Decode at 1/2, 1/4 or 1/8 scale straight from the file: a
                    # 39 Mpx photo never exists in memory at full size.
                    k = min(1.0, WORK_SIDE / max(w, h))
                    img.draft(img.mode, (math.ceil(w * k), math.ceil(h * k)))
                img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
            if orientation in _ORIENTATION:
                img = img.transpose(_ORIENTATION[orientation])
            return _to_array(img)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("the image is too large to open safely") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "this file is not an image of a kind read here (PNG, JPEG, WebP, GIF or BMP)"
        ) from exc
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        MemoryError,
    ) as exc:  # truncated or corrupt files, in Pillow's many ways
        raise ImageRejected("the image file is damaged and cannot be read") from exc


def _to_array(img: Image.Image) -> np.ndarray:
    """A decoded image -> uint8 array: grey (16-bit scaled down), RGB, or RGBA if transparent."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG): scale the full range down, instead of clipping at 255.
        a = np.asarray(img, dtype=np.float64)
        return np.clip(a / 257.0, 0, 255).round().astype(np.uint8)
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        return np.clip(a, 0, 255).astype(np.uint8)
    mode = "RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB"
    return np.asarray(img.convert(mode))
