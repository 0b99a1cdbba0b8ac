"""Uploads: only five formats, from content; draft JPEG decoding; 16-bit grey; alpha corners."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import torch
from PIL import EpsImagePlugin, Image, ImageFile

from mnist_models.drawings import synth
from mnist_models.nets import checkpoint
from mnist_models.nets.registry import SHIPPED_DIR
from mnist_models.reading import raster, uploads


@pytest.fixture(scope="module")
def networks():
    return [checkpoint.load(SHIPPED_DIR / f"{a}.pt")[0] for a in ("mlp", "cnn")]


def _reads(networks, arr: np.ndarray) -> list[int]:
    x = raster.from_image(arr).tensor()
    with torch.inference_mode():
        return [int(m(x).argmax()) for m in networks]


def _encode(arr: np.ndarray | Image.Image, fmt: str, **kw) -> bytes:
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def seven(test_split) -> np.ndarray:
    """Test digit 0 (a 7), dark ink on white, 280 x 280 RGB."""
    assert int(test_split.labels[0]) == 7
    return synth.canvas_image(test_split.images[0].numpy(), 200, 40, 40, mode="dark")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_the_five_formats_are_read(seven, networks, fmt):
    arr = uploads.read_image(_encode(seven, fmt))
    assert arr.dtype == np.uint8 and arr.shape[:2] == (280, 280)
    assert _reads(networks, arr) == [7, 7]


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA", "PCX"])
def test_other_formats_are_refused_whatever_the_name(seven, fmt):
    data = _encode(seven, fmt)  # would be uploaded as "digit.png"
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow alone would open it
    kinds = r"not an image .*\(PNG, JPEG, WebP, GIF or BMP\)"
    with pytest.raises(uploads.ImageRejected, match=kinds):
        uploads.read_image(data)


def test_webp_renamed_png_is_accepted(seven, networks):
    assert _reads(networks, uploads.read_image(_encode(seven, "WEBP", lossless=True))) == [7, 7]


def test_eps_never_reaches_ghostscript(monkeypatch):
    eps = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
        b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
    )
    calls = []

    def trap(self, *a, **kw):
        calls.append(a)
        raise AssertionError("EPS opened")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", trap)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", trap)
    with pytest.raises(AssertionError):  # the trap works: Pillow alone goes for EPS
        Image.open(io.BytesIO(eps))
    calls.clear()
    with pytest.raises(uploads.ImageRejected, match="not an image"):
        uploads.read_image(eps)
    assert calls == []


def test_sixteen_bit_grey_png_keeps_its_digit(seven, networks):
    grey16 = seven[..., 0].astype(np.uint16) * 257  # full 16-bit range
    data = _encode(Image.fromarray(grey16), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    arr = uploads.read_image(data)
    assert arr.dtype == np.uint8 and arr.min() < 10 and arr.max() > 245
    assert _reads(networks, arr) == [7, 7]


def test_transparent_rounded_corners_are_background(seven, networks):
    rgba = np.dstack([seven, np.full(seven.shape[:2], 255, np.uint8)])
    # Rounded corners of a phone screenshot: fully transparent, black underneath.
    yy, xx = np.mgrid[0:280, 0:280]
    r = 60
    dy = np.maximum(np.maximum(r - yy, yy - (279 - r)), 0)
    dx = np.maximum(np.maximum(r - xx, xx - (279 - r)), 0)
    rgba[dy**2 + dx**2 > r * r] = 0
    assert (rgba[..., 3] == 0).sum() > 3000
    arr = uploads.read_image(_encode(rgba, "PNG"))
    assert arr.shape == (280, 280, 4)
    assert _reads(networks, arr) == [7, 7]
    # The canvas's own export (ink only in alpha, transparent all round) still works.
    canvas = synth.canvas_image(np.asarray(seven[::10, ::10, 0] < 128, np.uint8) * 255, 200, 40, 40)
    assert raster.from_image(uploads.read_image(_encode(canvas, "PNG"))) is not None


def test_large_jpeg_decodes_in_draft_mode_and_turns_upright(seven, networks, monkeypatch):
    # 6000 x 4000 (24 Mpx) landscape photo of a 7 lying on its side, with EXIF
    # orientation 6 ("rotate 90 clockwise to view").
    big = Image.fromarray(seven).resize((4000, 4000), Image.Resampling.BILINEAR)
    photo = Image.new("RGB", (6000, 4000), "white")
    photo.paste(big, (1000, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(
        photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=85, exif=exif.tobytes()
    )
    del big, photo
    decoded = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    arr = uploads.read_image(data)
    # Decoded at 1/8 scale straight from the file, never at 24 Mpx.
    assert decoded and max(w * h for w, h in decoded) <= 750 * 500
    assert arr.shape == (400, 600, 3)  # upright after the EXIF rotation, then shrunk
    assert _reads(networks, arr) == [7, 7]


def test_at_most_two_decodes_at_once(seven, monkeypatch):
    gate = uploads.DecodeGate(slots=2, wait_s=5.0)
    data = _encode(seven, "PNG")
    lock, running, peak = threading.Lock(), [0], [0]
    real_thumbnail = Image.Image.thumbnail

    def slow_thumbnail(self, *a, **kw):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return real_thumbnail(self, *a, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Image.Image, "thumbnail", slow_thumbnail)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(uploads.read_image(data, gate=gate)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and peak[0] == 2


def test_a_third_decode_waits_then_is_told_the_server_is_busy(seven):
    gate = uploads.DecodeGate(slots=2, wait_s=0.1)
    data = _encode(seven, "PNG")
    with gate.slot(), gate.slot():
        with pytest.raises(uploads.ImageRejected, match="server is busy.*try again"):
            uploads.read_image(data, gate=gate)
    assert uploads.read_image(data, gate=gate).shape == (280, 280, 3)  # slots given back


def test_bombs_and_the_pixel_limit_still_hold():
    bomb = _encode(Image.new("1", (9000, 9000)), "PNG")  # 81 Mpx in a few KB
    with pytest.raises(uploads.ImageRejected, match="too large"):
        uploads.read_image(bomb)
    with pytest.raises(uploads.ImageRejected, match="limit is 1 million"):
        uploads.read_image(_encode(Image.new("L", (1200, 1000), 255), "PNG"), max_pixels=1_000_000)


# --- pen width: hairline rasters are thickened, others left alone -------------


@pytest.mark.parametrize("width", [6, 10, 18, 28])
def test_stroke_width_is_measured(test_split, width):
    strokes = synth.place_strokes(synth.digit_strokes(test_split.images[0].numpy()), 250, 40, 40)
    ink = raster.ink_map(synth.render_strokes(strokes, width, 336))
    assert 0.7 * width <= raster.stroke_width(ink) <= 1.1 * width


def test_hairline_digits_are_thickened_and_read(test_split, networks):
    """Digits drawn with a 4 px pen across 250 px: hairlines once scaled to 20 px."""
    wrong_before, wrong_after = 0, 0
    for i in range(40):
        img, label = test_split.images[i].numpy(), int(test_split.labels[i])
        strokes = synth.place_strokes(synth.digit_strokes(img), 250, 40, 40)
        hairline = synth.render_strokes(strokes, 4, 336)
        got = raster.from_image(hairline)
        # Thickened towards the page's pen: as thick, relative to the digit, as a
        # drawing of the same strokes.
        ratio = raster.stroke_width(got.steps["crop"]) / max(got.steps["crop"].shape)
        assert 0.08 < ratio < 0.2, i
        x = got.tensor()
        flat = raster.to_28x28(raster.ink_map(hairline), {}).tensor()  # as it was read before
        with torch.inference_mode():
            wrong_after += sum(int(m(x).argmax()) != label for m in networks)
            wrong_before += sum(int(m(flat).argmax()) != label for m in networks)
    assert wrong_after <= 2 and wrong_after < wrong_before


def test_ordinary_and_fat_pens_are_left_alone(seven, test_split):
    ink = raster.ink_map(seven)
    assert np.array_equal(raster._thickened(ink), ink)  # an MNIST digit enlarged
    strokes = synth.place_strokes(synth.digit_strokes(test_split.images[1].numpy()), 200, 40, 40)
    fat = raster.ink_map(synth.render_strokes(strokes, 28, 336))
    assert np.array_equal(raster._thickened(fat), fat)


def test_window_maximum_matches_a_square_dilation():
    a = np.random.default_rng(0).random((30, 23)).astype(np.float32)
    for r in (1, 2, 5, 9):
        got = raster._max_window(raster._max_window(a, r).T, r).T
        padded = np.pad(a, r)
        want = np.max(
            [
                padded[dy : dy + 30, dx : dx + 23]
                for dy in range(2 * r + 1)
                for dx in range(2 * r + 1)
            ],
            axis=0,
        )
        np.testing.assert_array_equal(got, want)
