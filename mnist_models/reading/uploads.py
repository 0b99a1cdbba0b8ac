"""Uploaded image files -> pixel arrays, validated and bounded before they cost anything.

``read_image`` accepts PNG, JPEG, WebP, GIF and BMP (told by content, never by
name), refuses decompression bombs (``MAX_UPLOAD_PIXELS``), decodes at most
``WORK_SIDE`` a side (JPEGs straight at a reduced scale), undoes the EXIF
orientation of phone photos, and limits simultaneous decodes (``DecodeGate``).
A refusal is ``ImageRejected``, one sentence for the visitor.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, UnidentifiedImageError

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


class ImageRejected(ValueError):
    """An upload that will not be read; str() is one sentence for the visitor."""


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
