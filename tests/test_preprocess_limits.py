"""Canvas data from the browser: validated, capped, and refused with one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_models.reading import canvas, pen


def _path(points: list[tuple[float, float]], op: str = "L") -> list[list]:
    return [["M", *points[0]]] + [[op, *p] if op == "L" else [op, *p, *p] for p in points[1:]]


def _fabric(*paths: list[list], **extra) -> dict:
    return {
        "version": "6.0",
        "objects": [dict({"type": "path", "path": p}, **extra) for p in paths],
    }


def _read(payload):
    """What the draw page does with the canvas's data."""
    return pen.from_strokes(canvas.strokes_from_fabric(payload))


SEVEN = [(60.0, 60.0), (200.0, 60.0), (150.0, 140.0), (110.0, 260.0)]

REJECTED = {
    "top level is a list": [1, 2, 3],
    "top level is a string": "objects",
    "objects is a number": {"objects": 5},
    "objects is a dict": {"objects": {"type": "path"}},
    "an object is a number": {"objects": [5]},
    "an object is a list": {"objects": [["path"]]},
    "path is a string": {"objects": [{"type": "path", "path": "M 0 0 L 10 10"}]},
    "a command is a number": {"objects": [{"type": "path", "path": [3, 4]}]},
    "a command is empty": {"objects": [{"type": "path", "path": [[]]}]},
    "a command's op is not text": {"objects": [{"type": "path", "path": [[None, 1, 2]]}]},
    "a command has too few numbers": {"objects": [{"type": "path", "path": [["M", 1]]}]},
    "a command has a million numbers": {
        "objects": [{"type": "path", "path": [["M"] + [1.0] * 1_000_000]}]
    },
    "NaN": _fabric(_path([(float("nan"), 1.0), (50.0, 50.0)])),
    "+inf": _fabric(_path([(10.0, 10.0), (float("inf"), 50.0)])),
    "-inf": _fabric(_path([(10.0, 10.0), (50.0, float("-inf"))])),
    "null coordinate": _fabric([["M", None, 10], ["L", 50, 50]]),
    "string coordinate": _fabric([["M", "10", 10], ["L", 50, 50]]),
    "boolean coordinate": _fabric([["M", True, 10], ["L", 50, 50]]),
    "nested garbage coordinate": _fabric([["M", [[1]], {"x": 1}], ["L", 50, 50]]),
    "huge float": _fabric(_path([(10.0, 10.0), (1e308, 50.0)])),
    "huge integer": _fabric([["M", 10, 10], ["L", 10**400, 50]]),
    "string scale": _fabric(_path(SEVEN), scaleX="2"),
    "NaN angle": _fabric(_path(SEVEN), angle=float("nan")),
    "a scale that throws the drawing off the canvas": _fabric(_path(SEVEN), scaleX=1e5),
    "a huge integer left": _fabric(_path(SEVEN), scaleX=2, left=10**400),
}


@pytest.mark.parametrize("payload", REJECTED.values(), ids=REJECTED.keys())
def test_bad_canvas_data_gets_one_clear_error(payload):
    with pytest.raises(canvas.DrawingRejected) as err:
        _read(payload)
    message = str(err.value)
    # One sentence for a visitor: no Python types, no paths.
    assert message.endswith(".") and message.count(". ") == 0 and "Error" not in message
    assert isinstance(err.value, ValueError)


NOTHING = {
    "None": None,
    "no objects key": {"version": "6.0"},
    "objects null": {"objects": None},
    "no objects": {"objects": []},
    "type null": {"objects": [{"type": None, "path": _path(SEVEN)}]},
    "type a number": {"objects": [{"type": 7, "path": _path(SEVEN)}]},
    "unknown types": {
        "objects": [
            {"type": "rect", "left": 1},
            {"type": "circle"},
            {"type": "image", "src": "http://example.com/x.png"},
        ]
    },
    "path null": {"objects": [{"type": "path", "path": None}]},
    "unknown commands only": _fabric([["A", 1, 2, 3, 4, 5, 6, 7], ["H", 5]]),
    "a dot": _fabric([["M", 100, 100], ["L", 101, 102]]),
}


@pytest.mark.parametrize("payload", NOTHING.values(), ids=NOTHING.keys())
def test_empty_or_unknown_canvas_data_is_nothing_to_read(payload):
    assert _read(payload) is None


def test_unknown_objects_are_skipped_and_the_digit_still_read():
    payload = _fabric(_path(SEVEN, op="Q"))
    payload["objects"] += [{"type": "rect", "width": "wide"}, {"type": None}, {"type": "text"}]
    pre = _read(payload)
    assert pre is not None and pre.image.shape == (28, 28)
    # Integers, floats and null transform fields are all numbers the canvas may send.
    assert (
        _read(
            _fabric(
                [["M", 60, 60], ["L", 200.5, 60], ["L", 110, 260]],
                scaleX=None,
                angle=0,
                originX=[1],
                flipX="yes",
            )
        )
        is not None
    )
    assert (
        _read(
            _fabric(
                _path(SEVEN), scaleX=2, originX=10**400, originY=float("nan"), width=100, height=100
            )
        )
        is not None
    )


def test_curves_keep_as_many_points_as_were_sent():
    (stroke,) = canvas.strokes_from_fabric(_fabric(_path(SEVEN, op="Q")))
    assert len(stroke) == 1 + 2 * (len(SEVEN) - 1)
    assert np.allclose(stroke[-1], SEVEN[-1]) and np.isfinite(stroke).all()


def test_the_caps_are_generous_and_exact():
    assert (canvas.MAX_STROKES, canvas.MAX_POINTS) == (64, 4_000)
    rng = np.random.default_rng(0)
    # 40 strokes of 100 points: 4,000 coordinate pairs, read.
    strokes = [[("L", *p) for p in rng.uniform(50, 300, (100, 2))] for _ in range(40)]
    at_cap = _fabric(*[[["M", 100, 100]] + [list(c) for c in s[1:]] for s in strokes])
    assert sum(len(o["path"]) for o in at_cap["objects"]) == canvas.MAX_POINTS
    assert _read(at_cap) is not None
    # One more point, or one more stroke: refused with the cap in the message.
    over = _fabric(*[o["path"] for o in at_cap["objects"]])
    over["objects"][0]["path"].append(["L", 120, 120])
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        _read(over)
    assert _read(_fabric(*([[["M", 1, 1], ["L", 50, 50]]] * 64))) is not None
    more = _fabric(*([[["M", 1, 1], ["L", 50, 50]]] * 65))
    with pytest.raises(canvas.DrawingRejected, match="too many strokes.*64"):
        _read(more)
    # Quadratic segments carry two pairs each: 2,000 of them and the move are over the cap.
    curvy = _fabric([["M", 0, 0]] + [["Q", 1, 1, 2, 2]] * 2_000)
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        _read(curvy)


class _Untouchable(list):
    """A list whose items must never be read: proves a refusal costs no per-point work."""

    def __iter__(self):
        raise AssertionError("the points were read")

    def __getitem__(self, i):
        raise AssertionError("the points were read")


def test_huge_drawings_are_refused_before_their_points_are_read():
    million = _Untouchable([["L", 1, 1]] * 1_000_000)
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        canvas.strokes_from_fabric({"objects": [{"type": "path", "path": million}]})
    # 10,000 objects of 100 points: refused on the object count alone.
    many = _Untouchable([{"type": "path", "path": [["L", 1, 1]] * 100}] * 10_000)
    with pytest.raises(canvas.DrawingRejected, match="too many strokes"):
        canvas.strokes_from_fabric({"objects": many})
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        pen.from_strokes([_Untouchable([[1.0, 1.0]] * 1_000_000)])
    with pytest.raises(canvas.DrawingRejected, match="too many strokes"):
        pen.from_strokes(_Untouchable([[[1.0, 1.0]]] * 10_000))


@pytest.mark.parametrize(
    "strokes",
    [
        5,
        "strokes",
        None,
        {"a": 1},
        [5],
        [[1, 2, 3]],
        [[[1, 2, 3]]],
        [[["a", "b"]]],
        [[[None, 1.0], [2.0, 3.0]]],
        [[[1, 2], [3]]],
        [np.array([[np.nan, 1.0], [5.0, 6.0]])],
        [np.array([[1e300, 1.0], [5.0, 6.0]])],
        [np.array([[True, False]])],
        [np.zeros((3, 2, 2))],
    ],
    ids=repr,
)
def test_bad_strokes_get_one_clear_error(strokes):
    with pytest.raises(canvas.DrawingRejected):
        pen.from_strokes(strokes)


def test_integer_and_list_strokes_are_read():
    ints = [np.array([[60, 60], [200, 60], [110, 260]])]
    lists = [[[60.0, 60.0], [200.0, 60.0], [110.0, 260.0]]]
    a, b = pen.from_strokes(ints), pen.from_strokes(lists)
    assert np.allclose(a.image, b.image)
    assert pen.from_strokes([[], np.zeros((0, 2))]) is None
