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

Both return ``None`` for "nothing to read" (blank or near-blank input).
"""

from __future__ import annotations

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


@dataclass
class Preprocessed:
    """The network input and the steps that led to it (all float32 in [0, 1], ink = 1)."""

    image: np.ndarray  # (28, 28)
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # name -> 2-D array

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
    if a.ndim == 3 and a.shape[2] == 4 and a[..., 3].min() < 0.99:
        # Transparent background (the canvas): the drawing is in the alpha
        # channel. Ink drawn in a light colour still counts as ink.
        ink = a[..., 3]
    else:
        if a.ndim == 3:
            gray = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        else:
            gray = a
        # Polarity from the border: the background is what surrounds the digit.
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        bg = float(np.median(border))
        ink = bg - gray if bg >= 0.5 else gray - bg
    top = float(ink.max(initial=0))
    if top < MIN_CONTRAST:  # paper grain or sensor noise, not ink
        return np.zeros(a.shape[:2], dtype=np.float32)
    # Photos have noise and uneven paper; drop what is faint next to the
    # strongest ink, then stretch the rest to [0, 1].
    floor = 0.25 * top
    return np.clip((ink - floor) / (top - floor), 0.0, 1.0)


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


def from_image(img: np.ndarray) -> Preprocessed | None:
    """A raster image -> 28x28 MNIST-style input, or None if there is no ink."""
    ink = ink_map(img)
    return _finish(ink, {"ink": ink})


# --- vector strokes -------------------------------------------------------------


def _quad(p0, c, p1, n: int = 8) -> list[tuple[float, float]]:
    t = np.linspace(0, 1, n + 1)[1:, None]
    pts = (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(c) + t**2 * np.asarray(p1)
    return [tuple(p) for p in pts]


def _cubic(p0, c1, c2, p1, n: int = 8) -> list[tuple[float, float]]:
    t = np.linspace(0, 1, n + 1)[1:, None]
    pts = ((1 - t) ** 3 * np.asarray(p0) + 3 * (1 - t) ** 2 * t * np.asarray(c1)
           + 3 * (1 - t) * t**2 * np.asarray(c2) + t**3 * np.asarray(p1))
    return [tuple(p) for p in pts]


def _path_points(commands: list) -> list[np.ndarray]:
    """SVG-like path commands (Fabric.js 'path') -> polylines in path coordinates."""
    lines: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    pos = (0.0, 0.0)
    for cmd in commands:
        if not cmd:
            continue
        op, args = str(cmd[0]).upper(), [float(v) for v in cmd[1:]]
        if op == "M" and len(args) >= 2:
            if len(cur) > 0:
                lines.append(cur)
            pos = (args[0], args[1])
            cur = [pos]
        elif op == "L" and len(args) >= 2:
            pos = (args[0], args[1])
            cur.append(pos)
        elif op == "Q" and len(args) >= 4:
            cur.extend(_quad(pos, args[0:2], args[2:4]))
            pos = (args[2], args[3])
        elif op == "C" and len(args) >= 6:
            cur.extend(_cubic(pos, args[0:2], args[2:4], args[4:6]))
            pos = (args[4], args[5])
    if len(cur) > 0:
        lines.append(cur)
    return [np.asarray(line, dtype=np.float64) for line in lines]


_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def strokes_from_fabric(json_data: dict | None) -> list[np.ndarray]:
    """The free-drawn paths of a streamlit-drawable-canvas result, in canvas pixels."""
    strokes: list[np.ndarray] = []
    if not isinstance(json_data, dict):
        return strokes
    for obj in json_data.get("objects") or []:
        if not isinstance(obj, dict) or obj.get("type", "").lower() != "path":
            continue
        for pts in _path_points(obj.get("path") or []):
            if len(pts) == 0:
                continue
            # Fresh strokes keep canvas pixels as path coordinates. An object
            # moved, scaled, rotated or flipped in edit mode carries that in
            # left/top (at its origin), scale, angle and flip, around the centre
            # of its path box.
            sx, sy = float(obj.get("scaleX", 1) or 1), float(obj.get("scaleY", 1) or 1)
            sx *= -1 if obj.get("flipX") else 1
            sy *= -1 if obj.get("flipY") else 1
            angle = float(obj.get("angle", 0) or 0)
            if (sx, sy, angle) == (1.0, 1.0, 0.0):
                strokes.append(pts)
                continue
            allp = np.concatenate(_path_points(obj.get("path") or []))
            centre_path = (allp.min(0) + allp.max(0)) / 2
            w = float(obj.get("width", 0)) * abs(sx)
            h = float(obj.get("height", 0)) * abs(sy)
            ox = _ORIGIN.get(obj.get("originX", "left"), 0.0)
            oy = _ORIGIN.get(obj.get("originY", "top"), 0.0)
            centre = np.array([float(obj.get("left", 0)) + (0.5 - ox) * w,
                               float(obj.get("top", 0)) + (0.5 - oy) * h])
            rad = np.deg2rad(angle)
            rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
            strokes.append(((pts - centre_path) * [sx, sy]) @ rot.T + centre)
    return strokes


def _decimate(pts: np.ndarray, min_step: float) -> list[tuple[float, float]]:
    """Drop points closer than min_step to the last kept one (keeping the end point)."""
    kept = [pts[0]]
    for p in pts[1:]:
        if np.hypot(*(p - kept[-1])) >= min_step:
            kept.append(p)
    if len(pts) > 1 and kept[-1] is not pts[-1]:
        kept.append(pts[-1])
    return [(float(x), float(y)) for x, y in kept]


def from_strokes(strokes: list[np.ndarray], pen_fraction: float = PEN_FRACTION,
                 resolution: int = 112) -> Preprocessed | None:
    """Pen strokes (each (k, 2) x, y points) -> 28x28 input, independent of brush and size."""
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if not strokes:
        return None
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    extent = float((hi - lo).max())
    if extent < MIN_EXTENT:
        return None
    # Re-draw the skeleton so its longer side spans `resolution` px, with a pen
    # proportional to it; the raster pipeline then crops and scales as usual.
    scale = resolution / extent
    pen = max(1.0, pen_fraction * resolution)
    margin = pen
    size = (int(np.ceil((hi - lo)[0] * scale + 2 * margin)) + 1,
            int(np.ceil((hi - lo)[1] * scale + 2 * margin)) + 1)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    r = pen / 2
    for s in strokes:
        pts = _decimate((s - lo) * scale + margin, min_step=pen / 4)
        if len(pts) > 1:
            draw.line(pts, fill=255, width=int(round(pen)))
        # Round joints and caps: a disc on every vertex. (PIL's joint="curve" does
        # the same in Python per vertex and was most of the preprocessing time.)
        for x, y in pts:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    return _finish(ink, {"strokes": ink})


# --- uploads ---------------------------------------------------------------------

MAX_UPLOAD_PIXELS = 40_000_000  # larger images are refused (decompression bombs)
WORK_SIDE = 600  # uploads are shrunk to this longer side before reading the ink


def read_image(data: bytes, max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """Image file bytes -> RGB(A) uint8 array; ValueError with a clear message if unusable."""
    import io
    import warnings

    from PIL import ImageOps, UnidentifiedImageError

    if not data:
        raise ValueError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ValueError(
                    f"the image is too large ({w}x{h} pixels); the limit is "
                    f"{max_pixels // 1_000_000} million pixels"
                )
            img = ImageOps.exif_transpose(img)  # phone photos carry their rotation in EXIF
            img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
            mode = "RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB"
            return np.asarray(img.convert(mode))
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ValueError("this file is not an image Pillow can read (try PNG or JPEG)") from exc
        raise ValueError("the image is too large to open safely") from exc
    except (OSError, SyntaxError) as exc:  # truncated or corrupt files
        raise ValueError(f"the image file is damaged ({exc})") from exc
