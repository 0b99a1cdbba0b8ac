"""Drawn-digit sets: MNIST digits turned into strokes and drawn the ways people draw them.

Each MNIST digit is traced into pen strokes (``synth.digit_strokes``), then placed
on a canvas anywhere and at any size, optionally rotated, slanted, squashed, made
tiny, shaken (tremor) or given a stray mark, and read through the same code as the
drawing page (``pen.from_strokes``), or rendered at a fixed brush width and
read as a raster (``raster.from_image``). Used by bench/bench_drawn.py and to fit
the not-a-digit thresholds (on training digits only).
"""

from __future__ import annotations

import hashlib
import io
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mnist_models import files
from mnist_models.drawings import synth
from mnist_models.reading.pen import from_strokes
from mnist_models.reading.raster import Preprocessed, from_image

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
# Drawn for the benchmark only, not for fitting the not-a-digit thresholds: tall and thin,
# each digit's width NARROW of its height (the digits already narrower, most 1s, as drawn),
# read from its strokes, or drawn with an 18 px brush and read as an image.
MORE_VARIANTS = ("narrow", "narrow18")
NARROW = 0.2


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
    elif variant == "narrow":
        allp = np.concatenate(strokes)
        width, height = allp.max(0) - allp.min(0)
        if width > NARROW * height:
            strokes = synth.squash(strokes, NARROW * height / width)
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
) -> Preprocessed | None:
    """The 28x28 input the page would make of this digit drawn as `variant`."""
    if variant not in VARIANTS + MORE_VARIANTS:
        known = ", ".join(VARIANTS + MORE_VARIANTS)
        raise ValueError(f"unknown variant {variant!r}; choose from {known}")
    if variant == "narrow18":
        placed = variant_strokes(strokes, "narrow", rng, canvas)
        return from_image(synth.render_strokes(placed, 18.0, canvas))
    if variant.startswith("brush"):
        placed = _anywhere(strokes, rng, 0.3, 0.9, canvas)
        raster = synth.render_strokes(placed, float(variant[5:]), canvas)
        return from_image(raster)
    return from_strokes(variant_strokes(strokes, variant, rng, canvas))


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


# Hand-shaped 1s and 7s (bench only): drawn as people write them rather than traced
# from MNIST, whose 1s are mostly bare sticks. A 1 with a flag and a 7 with a short bar
# are both narrow, a short stroke at the top of a long one: the flag slants down to the
# left from the top, the bar is level.
HAND_SETS = {"flag1": 1, "flag1_18": 1, "bar7": 7}  # set -> its digit; _18: an 18 px brush


def _polyline(*points: tuple[float, float], step: float = 4.0) -> np.ndarray:
    """Points every `step` px along the segments through `points`."""
    out = [np.array(points[0], dtype=float)[None]]
    for a, b in zip(points, points[1:]):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        k = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        out.append(a + np.linspace(0, 1, k + 1)[1:, None] * (b - a))
    return np.concatenate(out)


def hand_strokes(kind: str, rng: np.random.Generator, canvas: int = CANVAS) -> list[np.ndarray]:
    """One hand-shaped digit of HAND_SETS (canvas px), 35-85% of the canvas tall, at a
    random place where it fits.

    flag1: an upright or slanted stem (its foot up to 0.12 of its height either side),
    a flag 0.1-0.3 of the height at 25-65 degrees below level; 3 in 10 with a base.
    bar7: a level bar 0.2-0.45 of the height, its stem from the bar's right end down
    and left by up to 0.35 of the height; 3 in 10 crossed.
    """
    h = rng.uniform(0.35, 0.85) * canvas
    if kind.startswith("flag1"):
        foot = rng.uniform(-0.12, 0.12) * h
        flag, angle = rng.uniform(0.1, 0.3) * h, np.radians(rng.uniform(25, 65))
        strokes = [_polyline((-flag * np.cos(angle), flag * np.sin(angle)), (0, 0), (foot, h))]
        if rng.random() < 0.3:
            half = rng.uniform(0.15, 0.3) * h
            strokes.append(_polyline((foot - half, h), (foot + half, h)))
    else:
        bar, lean = rng.uniform(0.2, 0.45) * h, rng.uniform(0.0, 0.35) * h
        strokes = [_polyline((-bar, rng.uniform(-0.03, 0.03) * h), (0, 0), (-lean, h))]
        if rng.random() < 0.3:
            mid = -lean / 2
            strokes.append(_polyline((mid - 0.4 * bar, h / 2), (mid + 0.4 * bar, h / 2)))
    allp = np.concatenate(strokes)
    lo, ext = allp.min(0), allp.max(0) - allp.min(0)
    at = np.array([rng.uniform(0, canvas - ext[0]), rng.uniform(0, canvas - ext[1])])
    return [s - lo + at for s in strokes]


def build_hand(kind: str, n: int, seed: int = 0, canvas: int = CANVAS) -> torch.Tensor:
    """(n, 1, 28, 28): n hand-shaped digits of `kind` read as the page reads them (as
    strokes, or for a _18 kind drawn with an 18 px brush and read as an image)."""
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(n):
        strokes = hand_strokes(kind, rng, canvas)
        if kind.endswith("_18"):
            pre = from_image(synth.render_strokes(strokes, 18.0, canvas))
        else:
            pre = from_strokes(strokes, several=False)  # only the image is kept
        xs.append(pre.image)
    return torch.from_numpy(np.stack(xs)).unsqueeze(1)


def number_strokes(
    strokes: list[list[np.ndarray]],
    labels: np.ndarray,
    rng: np.random.Generator,
    canvas: int = CANVAS,
) -> tuple[list[np.ndarray], list[int]]:
    """(canvas strokes, digits): 2 or 3 of the traced digits (bench only), side by side on one
    line as a number is written: each digit's longer side 60-100 px, up to 15 px above or
    below the line, 0.03-0.4 of that size apart, from 10 px in."""
    count = 2 if rng.random() < 2 / 3 else 3
    height, x = rng.uniform(60, 100), 10.0
    out: list[np.ndarray] = []
    digits = []
    for i in rng.choice([i for i, s in enumerate(strokes) if s], count):
        placed = synth.place_strokes(strokes[i], height, x, canvas * 0.3 + rng.uniform(-15, 15))
        out += placed
        digits.append(int(labels[i]))
        x += float(np.ptp(np.concatenate(placed)[:, 0])) + rng.uniform(0.03, 0.4) * height
    return out, digits


STRAY_SHARE = 0.3  # of redrawn digits that get a stray mark (which the page may drop)
# Most of MNIST's 1s are bare sticks, but many people draw a 1 with a flag at the top and
# some with a base. A redrawn stick (its points' spread across their main axis at most
# STICK of the spread along it, that axis within STICK_TILT degrees of upright: 89% of
# MNIST's training 1s and 0.08% of its other digits) gets a flag FLAG_SHARE of the time.
STICK = 0.15
STICK_TILT = 35.0
FLAG_SHARE = 0.5
_FLAG_SEED = 0x1F1A6  # the flag's own random stream: every other digit is redrawn as before


def _with_flag(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A stick's strokes with a flag from its top, 0.12-0.35 of its height long and 15-60
    degrees below level, drawn from its tip up to the top as people draw it; a quarter of
    them also with a base 0.24-0.6 of the height wide. Anything else is returned as it is."""
    allp = np.concatenate(strokes)
    height = float(np.ptp(allp[:, 1]))
    if len(allp) < 3 or height <= 0 or rng.random() >= FLAG_SHARE:
        return strokes
    _, spread, axes = np.linalg.svd(allp - allp.mean(0), full_matrices=False)
    tilt = np.degrees(np.arctan2(abs(axes[0, 0]), abs(axes[0, 1])))
    if spread[1] > STICK * spread[0] or tilt > STICK_TILT:
        return strokes
    top, foot = allp[np.argmin(allp[:, 1])], allp[np.argmax(allp[:, 1])]
    length, angle = rng.uniform(0.12, 0.35) * height, np.radians(rng.uniform(15, 60))
    tip = top + length * np.array([-np.cos(angle), np.sin(angle)])
    out = [_polyline(tuple(tip), tuple(top), step=0.5), *strokes]
    if rng.random() < 0.25:
        half = rng.uniform(0.12, 0.3) * height
        out.append(_polyline((foot[0] - half, foot[1]), (foot[0] + half, foot[1]), step=0.5))
    return out


def redraw(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) digits -> the same digits as the drawing page would see them drawn.

    Each digit is traced into strokes, placed on the canvas, and read back through
    ``pen.from_strokes``: even strokes of the page's pen width in place of
    MNIST's pen. STRAY_SHARE of them also get a tap or a short slip of the pen 15-60%
    of the digit's size away, as people's drawings do; the page sets the farther
    ones aside, and the network learns to ignore the rest. A bare stick (a 1 as
    MNIST mostly writes it) gets a flag FLAG_SHARE of the time (``_with_flag``).
    Each digit's marks depend only on its pixels. A digit with nothing to trace is kept as it was.
    About 3 ms a digit.
    """
    imgs = np.asarray(images)
    out = imgs.copy()
    for i, img in enumerate(imgs):
        strokes = synth.digit_strokes(img)
        if not strokes:
            continue
        seed = zlib.crc32(img.tobytes())
        strokes = _with_flag(strokes, np.random.default_rng(seed ^ _FLAG_SEED))
        rng = np.random.default_rng(seed)
        if rng.random() < STRAY_SHARE:
            placed = _anywhere(strokes, rng, 0.3, 0.9, CANVAS)
            kind = "dot" if rng.random() < 0.5 else "stroke"
            strokes = synth.add_stray(placed, rng, kind, min_gap=rng.uniform(0.15, 0.6))
        pre = from_strokes(strokes, several=False)  # only the image is kept
        if pre is not None:
            out[i] = np.round(np.clip(pre.image, 0.0, 1.0) * 255)
    return out


# Redrawn digits are kept in <app home>/cache between runs (about 47 MB for the
# 60,000 training images, made in ~100 s on two cores): one file per set of
# images, filled in as subsets ask for them.
REDRAW_VERSION = 5  # bump when redraw() or preprocessing changes what it makes
POOL_FROM = 4000  # digits to redraw before it is worth starting worker processes


def redrawn(images: torch.Tensor, idx: torch.Tensor, cache_dir: Path | None = None) -> torch.Tensor:
    """uint8 (len(idx), 28, 28): images[idx] redrawn (``redraw``), from the cache when there.

    A cache that cannot be read or written is skipped: the digits are redrawn.
    """
    imgs = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    idx = np.asarray(idx, dtype=np.int64)
    key = hashlib.sha256(imgs.tobytes()).hexdigest()[:16]
    if cache_dir is None:
        cache_dir = files.home() / "cache"
    path = cache_dir / f"redrawn-v{REDRAW_VERSION}-{key}.npz"
    out, done = _read_cache(path, imgs.shape)
    missing = np.unique(idx[~done[idx]])
    if len(missing):
        out[missing] = _redraw_many(imgs[missing])
        done[missing] = True
        _write_cache(path, out, done)
    return torch.from_numpy(out[idx])


def _read_cache(path: Path, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as z:
            out, done = z["images"], z["done"]
        if out.shape == shape and out.dtype == np.uint8 and done.shape == shape[:1]:
            return out.copy(), done.astype(bool)
    except (OSError, ValueError, KeyError):
        pass
    return np.zeros(shape, dtype=np.uint8), np.zeros(shape[0], dtype=bool)


def _write_cache(path: Path, out: np.ndarray, done: np.ndarray) -> None:

    buf = io.BytesIO()
    np.savez(buf, images=out, done=done)
    try:
        files.atomic_write(path, buf.getvalue())
    except OSError:
        pass


def _redraw_many(imgs: np.ndarray) -> np.ndarray:
    from mnist_models.cpu import default_threads

    workers = min(default_threads(), 8)
    if len(imgs) < POOL_FROM or workers < 2:
        return redraw(imgs)
    parts = np.array_split(imgs, workers * 4)
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(redraw, parts)))
