"""Rasters -> the 28x28 image a network sees, the way MNIST was made.

MNIST digits were size-normalised to fit a 20x20 box (keeping the aspect
ratio, anti-aliased), then placed in 28x28 with their centre of mass at the
centre. ``from_image`` does the same to any raster (canvas RGBA with a
transparent background, or an opaque photo or scan, dark-on-light or
light-on-dark): its ink map, stray marks set aside, hairline strokes thickened
towards the drawing page's pen, then ``to_28x28``. ``Preprocessed`` keeps each
step for the page that shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from mnist_models.reading.proportion import FLAG, stretch
from mnist_models.reading.stray import STRAYS, StrayRule, dilate, stray_mask

BOX = 20  # MNIST's size-normalisation box
SIZE = 28
# Pen width for re-drawn strokes, as a fraction of the digit's longer side.
# Calibrated on MNIST: digits skeletonised and re-drawn at this width are read
# best by the shipped networks (see tests/test_preprocess.py).
PEN_FRACTION = 0.15
MIN_INK_PIXELS = 12  # fewer strong ink pixels than this: nothing to read
MIN_CONTRAST = 0.15  # darkest ink must differ this much from the background


@dataclass
class Preprocessed:
    """The network input and the steps that led to it (all float32 in [0, 1], ink = 1)."""

    image: np.ndarray  # (28, 28)
    # name -> 2-D array. "dropped" (when present) has the shape of "ink" or
    # "strokes" and holds only the ink that was ignored as stray marks.
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    # How much wider the drawing was read than drawn (proportion.stretch): 1 but for a
    # drawing far narrower than a digit.
    widened: float = 1.0
    # Several digits side by side (reading/several.py): each group of strokes read as a
    # drawing of its own, left to right; None for one drawing.
    pieces: list[Preprocessed] | None = None

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


def _spread_below(crop: np.ndarray, flag: float) -> float:
    """The share of the crop's width that its ink spans under the top `flag` of the
    strokes' height, the strokes' own width left out (an upright stem of any brush
    spans none of it, and a flag's rounded end is still above)."""
    h, w = crop.shape
    pen = min(stroke_width(crop), w - 1.0, h - 1.0)
    cols = np.flatnonzero((crop[int(np.ceil(flag * (h - pen) + pen)) :] > 0.1).any(axis=0))
    if cols.size == 0:
        return 0.0
    return max(0.0, cols[-1] - cols[0] + 1 - pen) / (w - pen)


def to_28x28(
    ink: np.ndarray, steps: dict[str, np.ndarray], widen: bool = False
) -> Preprocessed | None:
    """Ink -> cropped, longer side scaled to 20 px, centred by mass in 28x28; None if blank.

    widen: a crop far narrower than a digit is first stretched wider, by the rule that
    pen.from_strokes applies to strokes (proportion.stretch); for rasters, whose strokes are
    not re-drawn.
    """
    if _is_blank(ink):
        return None
    rows = np.flatnonzero((ink > 0.1).any(axis=1))
    cols = np.flatnonzero((ink > 0.1).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    widened = stretch(w, h) if widen else 1.0
    if widened > 1.0:  # narrow: is it wide under its top too, or a 1's flag on a stem?
        widened = stretch(w, h, _spread_below(crop, FLAG))
    wide = crop
    if widened > 1.0:
        pil = Image.fromarray(crop.astype(np.float32), mode="F")
        size = (max(1, round(w * widened)), h)
        wide = np.clip(np.asarray(pil.resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)
    small = _to_20(wide)
    final = _centre_of_mass(small)
    steps.update({"crop": crop, "20x20": small, "28x28": final})
    return Preprocessed(final, steps, widened)


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
    grown = dilate(mask, 1)
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
    return to_28x28(_thickened(ink), steps, widen=True)
