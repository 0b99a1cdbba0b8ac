"""Canvas data: the one validation of drawn strokes, and their compact JSON text.

A drawing reaches the app as the canvas's Fabric.js data (``strokes_from_fabric``,
on the drawing page and a room's phone page), as the compact JSON text a room
stores (``encode_strokes`` / ``decode_strokes``), or as point lists
(``check_strokes``, which ``pen.from_strokes`` calls). All of them give the
same value, a list of (k, 2) float64 arrays of finite canvas pixels, checked by
the same rules and limits, so a drawing one path takes is taken by the others.
Everything is bounded before it costs anything (text length and nesting before
parsing, counts before points are read); a refusal is ``DrawingRejected``, one
sentence for the visitor.
"""

from __future__ import annotations

import json
import re

import numpy as np

# One rule set for every path a drawing takes: page, phone, room store, CLI.
# A digit drawn with the mouse or a finger is 1-10 strokes. The canvas records
# one pen position per pointer event (about 60-120 a second) and sends each as a
# quadratic segment of 2 coordinate pairs, read as 2 points: a phone digit is a
# few hundred points, a slow, careful 5 s one about 1,200. Digits drawn in dots
# or dashes take more strokes: MNIST's 10,000 test digits traced and dashed
# (bench/bench_stray.py) take at most 48, traced training digits at most 34
# pieces. The limits leave room for those and a few corrections, and keep a
# room's stored drawing under MAX_TEXT_BYTES (80 kB; a phone digit is 5-15 kB).
MAX_STROKES = 64  # canvas objects, and strokes (pen-down to pen-up) in all
MAX_POINTS = 4_000  # points (coordinate pairs) in all: three slow digits' worth
# Canvases are 336-560 px; a stroke may run off the edge while the pen is down
# (and far beyond it on a large screen with the canvas shown small): kept. A
# coordinate beyond this is no pen position.
MAX_COORD = 10_000.0  # canvas pixels, either sign
# The canvas's Fabric JSON, when it comes as text: at the limits it is about
# 64 objects of 1 kB of properties and 4,000 points of up to 40 bytes. (Parsed
# data is walked to a fixed depth, so however deep it is nested costs nothing.)
MAX_FABRIC_BYTES = 1_000_000
MAX_DEPTH = 16  # nesting of that JSON: objects -> object -> path -> command is 4
# The compact text: one decimal (a tenth of a canvas pixel is finer than any
# pointer), no spaces; this is its longest possible form within the limits.
MAX_TEXT_BYTES = MAX_POINTS * len("[-10000.0,-10000.0],") + MAX_STROKES * len("[],") + len("[]")

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
_TOO_LARGE = "This drawing's data is too large; clear the canvas and draw one digit."
# Also what a page shows when Streamlit itself cannot parse the canvas's state.
MALFORMED = "The drawing data from the canvas is malformed; clear the canvas and draw again."
_BAD_COORD = "The drawing has coordinates that are not finite numbers on the canvas."
# A JSON string, escapes included; brackets inside one do not nest.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSES = np.frombuffer(b"]}", dtype=np.uint8)


class DrawingRejected(ValueError):
    """Canvas data that will not be read; str() is one sentence for the visitor."""


def _loads(text: str | bytes | bytearray, max_bytes: int, max_depth: int) -> object:
    """JSON text -> its value; too long, nested deeper than max_depth, or not JSON ->
    DrawingRejected, decided before the parser (which recurses) ever sees it."""
    if len(text) > max_bytes:  # characters: never more than the UTF-8 bytes
        raise DrawingRejected(_TOO_LARGE)
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise DrawingRejected(MALFORMED) from None
    elif len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise DrawingRejected(_TOO_LARGE)
    if json_depth(text) > max_depth:
        raise DrawingRejected(MALFORMED)
    try:
        return json.loads(text)
    except ValueError:  # not JSON (or an integer too long for Python to read)
        raise DrawingRejected(MALFORMED) from None


def json_depth(text: str) -> int:
    """How deeply JSON text nests: the most brackets open at once outside strings, counted
    without parsing (json.loads recurses, and fails on deep nesting with RecursionError)."""
    # Bytes of characters beyond ASCII are all >= 0x80, so they never count as brackets.
    bare = _JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(bare, dtype=np.uint8)
    step = np.isin(codes, _OPENS).astype(np.int32) - np.isin(codes, _CLOSES)
    return int(step.cumsum().max()) if len(step) else 0


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
                raise DrawingRejected(MALFORMED)
            n = _FABRIC_OPS.get(cmd[0])
            if n is None:
                continue  # other SVG commands never come from free drawing
            if len(cmd) != 1 + 2 * n:
                raise DrawingRejected(MALFORMED)
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

    `json_data` is the canvas's Fabric.js data, parsed or as JSON text. None or
    no objects -> []. Unknown object types are skipped. Text that is not JSON,
    over MAX_FABRIC_BYTES or nested deeper than MAX_DEPTH, malformed data,
    coordinates that are not finite numbers on the canvas, or a drawing over
    MAX_STROKES or MAX_POINTS -> DrawingRejected, refused before any costly work.
    """
    if isinstance(json_data, (str, bytes, bytearray)):
        json_data = _loads(json_data, MAX_FABRIC_BYTES, MAX_DEPTH)
    if json_data is None:
        return []
    if not isinstance(json_data, dict):
        raise DrawingRejected(MALFORMED)
    objects = json_data.get("objects")
    if objects is None:
        return []
    if not isinstance(objects, list):
        raise DrawingRejected(MALFORMED)
    if len(objects) > MAX_STROKES:
        raise DrawingRejected(_TOO_MANY_STROKES)
    found, paths = [], []
    for obj in objects:
        if not isinstance(obj, dict):
            raise DrawingRejected(MALFORMED)
        kind = obj.get("type")
        if not isinstance(kind, str) or kind.lower() != "path":
            continue
        path = obj.get("path")
        if path is None:
            continue
        if not isinstance(path, list):
            raise DrawingRejected(MALFORMED)
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


def check_strokes(strokes: object) -> list[np.ndarray]:
    """Pen strokes (point lists or (k, 2) arrays) -> float64 arrays, checked by the rules
    above; empty strokes are left out. Anything else -> DrawingRejected."""
    if not isinstance(strokes, (list, tuple)):
        raise DrawingRejected(MALFORMED)
    if len(strokes) > MAX_STROKES:
        raise DrawingRejected(_TOO_MANY_STROKES)
    out, total = [], 0
    for s in strokes:
        # len() first: a huge point list is refused before numpy copies it.
        try:
            total += len(s)
        except TypeError:
            raise DrawingRejected(MALFORMED) from None
        if total > MAX_POINTS:
            raise DrawingRejected(_TOO_MANY_POINTS)
        try:
            a = np.asarray(s)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise DrawingRejected(MALFORMED) from None
        if a.size == 0:
            continue
        if a.dtype.kind not in "iuf":  # strings, booleans, None, nested objects
            raise DrawingRejected(_BAD_COORD)
        if not isinstance(s, np.ndarray) and _any_bool(s):  # numpy makes [True, 2] ints
            raise DrawingRejected(_BAD_COORD)
        if a.ndim != 2 or a.shape[1] != 2:
            raise DrawingRejected(MALFORMED)
        a = a.astype(np.float64)
        if not np.isfinite(a).all() or np.abs(a).max() > MAX_COORD:
            raise DrawingRejected(_BAD_COORD)
        out.append(a)
    return out


_IS_BOOL = np.frompyfunc(lambda v: isinstance(v, _BOOL), 1, 1)


def _any_bool(points: object) -> bool:
    """Whether a regular nested list of numbers holds a bool (one call per value)."""
    return bool(_IS_BOOL(np.asarray(points, dtype=object)).any())


def encode_strokes(strokes: object) -> str:
    """Strokes -> compact JSON text (a tenth of a pixel, no spaces), checked by the same
    rules: at most MAX_TEXT_BYTES, and decode_strokes reads it back."""
    arrays = check_strokes(strokes)
    # Python's round, as rooms have always stored strokes: the same text as before.
    out = [[[round(float(x), 1), round(float(y), 1)] for x, y in a.tolist()] for a in arrays]
    return json.dumps(out, separators=(",", ":"))


def decode_strokes(text: object) -> list[np.ndarray]:
    """Strokes JSON text ([[[x, y], ...], ...], as encode_strokes writes it) -> strokes,
    checked by the same rules; DrawingRejected otherwise."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise DrawingRejected(MALFORMED)
    # strokes -> stroke -> point: three levels, nothing deeper.
    return check_strokes(_loads(text, MAX_TEXT_BYTES, 3))
