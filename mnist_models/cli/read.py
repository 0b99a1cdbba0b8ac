"""`python -m mnist_models read FILE... [--json]`: read drawings in a batch, as the page does.

FILE is a JSON of drawings, ``{"canvas": 336, "items": [{"paths": [[[x, y], ...],
...]}, ...]}`` (stroke polylines in canvas pixels, as the canvas draws them), an
image file (PNG, JPEG, ...) or a folder of image files. Every input is checked
before anything is printed, and bounded before it costs anything: regular files
only (a FIFO or a device is refused at once), a cap on the bytes read from each
file and from all of them, on the drawings and images, on the strokes and
points of a drawing and on the nesting of the JSON, and on an image's pixels
before it is decoded. A bad file gets a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_models import files
from mnist_models import text as text_mod
from mnist_models.nets import checkpoint, networks
from mnist_models.reading import pen, raster, uploads
from mnist_models.reading.canvas import MAX_POINTS, MAX_STROKES, json_depth
from mnist_models.reading.read import load_active, read

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
# Every input is bounded before it costs anything: whatever a file holds or claims,
# a run reads at most MAX_TOTAL_BYTES, keeps at most MAX_ITEMS 28x28 inputs, and
# refuses anything else in one line.
MAX_JSON_BYTES = 20_000_000  # a drawing is 5-15 kB; this is over a thousand of them
MAX_JSON_DEPTH = 8  # {"items": [{"paths": [[[x, y]]]}]} nests 6 deep
MAX_IMAGE_BYTES = 20_000_000  # the page's upload limit (.streamlit/config.toml)
MAX_ITEMS = 10_000  # drawings and images in one run
MAX_TOTAL_BYTES = 200_000_000  # read from every input of one run together


class InputError(ValueError):
    """An input file that cannot be read; the message names it and says why."""


@dataclass
class Item:
    """One drawing to read: a name for the output and a way to make its 28x28 input."""

    name: str
    strokes: list[np.ndarray] | None = None
    image_path: Path | None = None

    def preprocess(self, budget: Budget) -> raster.Preprocessed | None:
        """The same call the page makes for a drawing or an upload (an image file is read and
        decoded here, one at a time); only the 28x28 inputs are kept (the drawing's, and
        each of its pieces' where it is several digits side by side), not the steps."""
        if self.strokes is not None:
            pre = pen.from_strokes(self.strokes)
        else:
            data = budget.read(self.image_path, MAX_IMAGE_BYTES)
            try:
                pre = raster.from_image(uploads.read_image(data))
            except uploads.ImageRejected as exc:
                raise InputError(f"{self.image_path}: {exc}") from None
        if pre is None:
            return None
        pieces = [raster.Preprocessed(p.image) for p in pre.pieces] if pre.pieces else None
        return raster.Preprocessed(pre.image, pieces=pieces)


class Budget:
    """What one run has read so far, against MAX_TOTAL_BYTES and MAX_ITEMS."""

    def __init__(self) -> None:
        self.bytes = 0
        self.items = 0

    def read(self, path: Path, max_bytes: int) -> bytes:
        """A regular file's bytes, at most max_bytes and what is left of the run's total."""
        left = MAX_TOTAL_BYTES - self.bytes
        try:
            data = files.read_capped(path, min(max_bytes, left))
        except files.Unreadable as exc:
            if left < max_bytes and "larger than" in str(exc):
                raise InputError(
                    f"{path}: the inputs of one run may be {MAX_TOTAL_BYTES // 1_000_000} MB "
                    "in all; read the rest in another run"
                ) from None
            raise InputError(f"{path}: {exc}") from None
        self.bytes += len(data)
        return data

    def add(self, n: int, where: object) -> None:
        """Count n more items; InputError beyond MAX_ITEMS."""
        self.items += n
        if self.items > MAX_ITEMS:
            raise InputError(
                f"{where}: more than {MAX_ITEMS:,} drawings and images in one run; "
                "read them in several"
            )


def _stroke(path: object, where: str) -> np.ndarray:
    if not isinstance(path, list):
        raise InputError(f"{where}: a path must be a list of [x, y] points")
    pts = []
    for pt in path:
        if (
            not isinstance(pt, list)
            or len(pt) != 2
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in pt
            )
        ):
            raise InputError(f"{where}: every point must be [x, y] with two finite numbers")
        pts.append(pt)
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def drawings(path: Path, budget: Budget | None = None) -> list[Item]:
    """The items of a JSON drawings file, checked: size, nesting, counts, then every point."""
    budget = budget or Budget()
    data = budget.read(path, MAX_JSON_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if json_depth(text) > MAX_JSON_DEPTH:  # before the parser, which recurses
        raise InputError(f"{path}: not valid drawings (nested deeper than {MAX_JSON_DEPTH})")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError as exc:  # an integer too long for Python to read
        raise InputError(f"{path}: not valid JSON ({text_mod.plain(exc, 80)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise InputError(f'{path}: expected {{"canvas": 336, "items": [{{"paths": ...}}, ...]}}')
    canvas = doc.get("canvas", 336)
    if isinstance(canvas, bool) or not isinstance(canvas, (int, float)) or not canvas > 0:
        raise InputError(f'{path}: "canvas" must be a positive number of pixels')
    budget.add(len(doc["items"]), path)  # before any of them is looked at
    items = []
    for i, it in enumerate(doc["items"]):
        where = f"{path}: item {i}"
        if not isinstance(it, dict) or not isinstance(it.get("paths"), list):
            raise InputError(f'{where}: expected {{"paths": [[[x, y], ...], ...]}}')
        paths = it["paths"]
        if len(paths) > MAX_STROKES:
            raise InputError(f"{path}#{i}: too many strokes (the limit is {MAX_STROKES})")
        if sum(len(p) if isinstance(p, list) else 0 for p in paths) > MAX_POINTS:
            raise InputError(f"{path}#{i}: too many points (the limit is {MAX_POINTS:,})")
        items.append(Item(f"{path}#{i}", strokes=[_stroke(p, where) for p in paths]))
    return items


def image(path: Path, budget: Budget | None = None) -> Item:
    """An image file, to be decoded (as the page decodes uploads) when it is read."""
    (budget or Budget()).add(1, path)
    return Item(str(path), image_path=path)


def _images_in(folder: Path, budget: Budget) -> list[Item]:
    """The image files of a folder (by name; each is checked when it is read), sorted."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if Path(e.name).suffix.lower() in IMAGE_SUFFIXES and e.is_file():
                    found.append(Path(e.path))
                    if len(found) + budget.items > MAX_ITEMS:
                        budget.add(len(found), folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot be read ({exc.strerror or exc})") from None
    if not found:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it")
    return [image(p, budget) for p in sorted(found)]


def collect(paths: list[Path], budget: Budget | None = None) -> list[Item]:
    """Every item of every input, in order; InputError on the first bad one."""
    budget = budget or Budget()
    items: list[Item] = []
    for path in paths:
        if path.is_dir():
            items += _images_in(path, budget)
        elif not path.exists() and not path.is_symlink():
            raise InputError(f"{path}: no such file or folder")
        elif path.suffix.lower() == ".json":
            items += drawings(path, budget)
        else:
            try:  # no regular file (a FIFO, /dev/zero): refused now; read when its turn comes
                size = files.check_regular(path)
            except files.Unreadable as exc:
                raise InputError(f"{path}: {exc}") from None
            if size > MAX_IMAGE_BYTES:
                raise InputError(f"{path}: larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
            items.append(image(path, budget))
    return items


def _text(name: str, result: dict) -> str:
    if result["nothing_to_read"]:
        return f"{name}: nothing to read"
    bits = []
    for arch, r in result["networks"].items():
        title = networks.get(arch).name
        if r["not_digit"] is None:  # a network, or a version, nobody fitted a detector for
            flag = ", no not-a-digit detector"
        else:
            flag = f", not a digit ({r['not_digit_score']:.2f})" if r["not_digit"] else ""
        sure = "over 99.9%" if r["confidence"] > 0.999 else f"{r['confidence']:.1%}"
        bits.append(f"{title} {r['digit']} ({sure} sure{flag})")
    verdict = {True: "; this doesn't look like a digit", False: "", None: ""}[result["not_digit"]]
    if result.get("several_digits"):
        digits = " ".join(map(str, result["several_digits"]))
        verdict = f"; this looks like several digits side by side ({digits})"
    return f"{name}: " + ", ".join(bits) + verdict


def run(a: argparse.Namespace) -> None:
    """Read every item and print one line (one JSON object with --json) per item."""

    def fail(message: str) -> None:
        sys.stderr.write(f"mnist_models read: error: {message}\n")
        sys.exit(2)

    budget = Budget()
    try:
        items = collect(a.files, budget)
    except InputError as exc:
        fail(str(exc))
    try:
        models, warnings = load_active()
    except checkpoint.CheckpointError as exc:
        fail(str(exc))
    for w in warnings:
        sys.stderr.write(f"mnist_models read: warning: {w}\n")
    pres = []
    for item in items:  # all of them first: a refused drawing stops the batch before output
        try:
            pres.append(item.preprocess(budget))
        except InputError as exc:
            fail(str(exc))
        except ValueError as exc:  # a drawing the preprocessing refuses (too many points, ...)
            fail(f"{item.name}: {exc}")
    for item, pre in zip(items, pres):
        result = read(pre, models).to_json()
        if a.json:
            print(json.dumps({"item": item.name, **result}), flush=True)
        else:
            print(_text(item.name, result), flush=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `read` subcommand, for the main command line (cli/__init__.py)."""
    r = sub.add_parser("read", help="read drawings (JSON of strokes) or images in a batch")
    r.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a JSON of drawings, an image file or a folder of images",
    )
    r.add_argument("--json", action="store_true", help="one JSON object per item")
    r.set_defaults(func=run)
