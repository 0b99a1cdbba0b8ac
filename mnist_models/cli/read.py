"""`python -m mnist_models read FILE... [--json]`: read drawings in a batch, as the page does.

FILE is a JSON of drawings, ``{"canvas": 336, "items": [{"paths": [[[x, y], ...],
...]}, ...]}`` (stroke polylines in canvas pixels, as the canvas draws them), an
image file (PNG, JPEG, ...) or a folder of image files. Every input is checked
before anything is read; a bad file gets a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_models.nets import checkpoint, networks
from mnist_models.reading import pen, raster, uploads
from mnist_models.reading.read import load_active, read

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
MAX_JSON_BYTES = 20_000_000  # a drawing is a few kB; this is thousands of them


class InputError(ValueError):
    """An input file that cannot be read; the message names it and says why."""


@dataclass
class Item:
    """One drawing to read: a name for the output and a way to make its 28x28 input."""

    name: str
    strokes: list[np.ndarray] | None = None
    image: np.ndarray | None = None

    def preprocess(self) -> raster.Preprocessed | None:
        """The same call the page makes for a drawing or an upload."""
        if self.strokes is not None:
            return pen.from_strokes(self.strokes)
        return raster.from_image(self.image)


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


def drawings(path: Path) -> list[Item]:
    """The items of a JSON drawings file, checked."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise InputError(f"{path}: larger than {MAX_JSON_BYTES // 1_000_000} MB")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc.__class__.__name__})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise InputError(f'{path}: expected {{"canvas": 336, "items": [{{"paths": ...}}, ...]}}')
    canvas = doc.get("canvas", 336)
    if isinstance(canvas, bool) or not isinstance(canvas, (int, float)) or not canvas > 0:
        raise InputError(f'{path}: "canvas" must be a positive number of pixels')
    items = []
    for i, it in enumerate(doc["items"]):
        where = f"{path}: item {i}"
        if not isinstance(it, dict) or not isinstance(it.get("paths"), list):
            raise InputError(f'{where}: expected {{"paths": [[[x, y], ...], ...]}}')
        items.append(Item(f"{path}#{i}", strokes=[_stroke(p, where) for p in it["paths"]]))
    return items


def image(path: Path) -> Item:
    """An image file, decoded as the page decodes uploads."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return Item(str(path), image=uploads.read_image(data))
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc


def collect(paths: list[Path]) -> list[Item]:
    """Every item of every input, in order; InputError on the first bad one."""
    items: list[Item] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                raise InputError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it")
            items += [image(p) for p in files]
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        elif path.suffix.lower() == ".json":
            items += drawings(path)
        else:
            items.append(image(path))
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
    return f"{name}: " + ", ".join(bits) + verdict


def run(a: argparse.Namespace) -> None:
    """Read every item and print one line (one JSON object with --json) per item."""

    def fail(message: str) -> None:
        sys.stderr.write(f"mnist_models read: error: {message}\n")
        sys.exit(2)

    try:
        items = collect(a.files)
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
            pres.append(item.preprocess())
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
