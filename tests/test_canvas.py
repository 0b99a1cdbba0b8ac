"""One rule set for canvas data: the page's parse and a room's stored text agree on drawings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.reading import canvas, pen


def _fabric(strokes: list) -> dict:
    """Point lists as the canvas sends them: one path object per stroke, M then L commands."""
    return {
        "version": "6.0",
        "objects": [
            {"type": "path", "path": [["M", *s[0]]] + [["L", *p] for p in s[1:]]} for s in strokes
        ],
    }


def _page(strokes: list) -> str:
    """What the drawing page makes of these strokes drawn on the canvas."""
    try:
        pen.from_strokes(canvas.strokes_from_fabric(_fabric(strokes)))
    except canvas.DrawingRejected as exc:
        return str(exc)
    return "accepted"


def _room(strokes: list) -> str:
    """What a room makes of the same strokes: encoded to text, stored, decoded, read."""
    try:
        pen.from_strokes(canvas.decode_strokes(canvas.encode_strokes(strokes)))
    except canvas.DrawingRejected as exc:
        return str(exc)
    return "accepted"


def _line(n: int, x: float = 50.0, y: float = 50.0) -> list[list[float]]:
    return [[x + 0.37 * i, y + 0.61 * i] for i in range(n)]


@pytest.fixture(scope="module")
def seven() -> list[list[list[float]]]:
    test = data.load_split("test")
    img = next(test.images[i].numpy() for i in range(100) if int(test.labels[i]) == 7)
    placed = synth.place_strokes(synth.digit_strokes(img), 250, 80, 60)
    return [s.tolist() for s in placed]


P, S, C = canvas.MAX_POINTS, canvas.MAX_STROKES, canvas.MAX_COORD
DRAWINGS = {
    "points at the limit": [_line(P // 4)] * 4,
    "one point over": [_line(P // 4)] * 3 + [_line(P // 4 + 1)],
    "strokes at the limit": [_line(3, 10 + 5 * i) for i in range(S)],
    "one stroke over": [_line(3, 10 + 5 * i) for i in range(S + 1)],
    "coordinates at the limit": [[[-C, -C], [C, C], [0.0, 0.0]]],
    "off the canvas, within the limit": [[[-300.0, 20.0], [900.0, 700.0]]],
    "a coordinate beyond it": [[[10.0, 10.0], [C + 1, 10.0]]],
    "NaN": [[[10.0, 10.0], [float("nan"), 10.0]]],
    "infinity": [[[10.0, 10.0], [10.0, float("inf")]]],
}


@pytest.mark.parametrize("strokes", DRAWINGS.values(), ids=DRAWINGS.keys())
def test_the_page_and_a_room_accept_or_refuse_a_drawing_alike(strokes):
    assert _page(strokes) == _room(strokes)


def test_the_limits_cut_where_they_say():
    outcomes = {k: _page(v) for k, v in DRAWINGS.items()}
    assert [k for k, v in outcomes.items() if v == "accepted"] == [
        "points at the limit",
        "strokes at the limit",
        "coordinates at the limit",
        "off the canvas, within the limit",
    ]
    assert f"{P:,}" in outcomes["one point over"] and f"{S}" in outcomes["one stroke over"]


def test_a_real_digit_fits_easily_and_comes_back_to_a_tenth_of_a_pixel(seven):
    strokes = canvas.strokes_from_fabric(_fabric(seven))
    text = canvas.encode_strokes(strokes)
    assert _page(seven) == _room(seven) == "accepted"
    assert len(strokes) < 10 and sum(map(len, strokes)) < 400 and len(text) < 10_000
    back = canvas.decode_strokes(text)
    assert len(back) == len(strokes)
    for a, b in zip(strokes, back):
        assert np.abs(a - b).max() <= 0.05 + 1e-9
    assert canvas.encode_strokes(back) == text  # stored text is stable
    # A tenth of a pixel changes what the networks see by almost nothing.
    page, room = pen.from_strokes(strokes).image, pen.from_strokes(back).image
    assert np.abs(page - room).max() < 0.05


def test_the_largest_drawing_within_the_limits_fits_the_text_limit():
    widest = [[[-C, -C]] * (P // S)] * S
    assert sum(map(len, widest)) <= P
    text = canvas.encode_strokes(widest)
    assert len(text.encode()) <= canvas.MAX_TEXT_BYTES
    assert len(canvas.decode_strokes(text)) == S


BAD_TEXT = {
    "not JSON": "[[[1, 2], [3, 4]]",
    "not a list": '{"strokes": []}',
    "a point of three numbers": "[[[1, 2, 3]]]",
    "a string coordinate": '[[["1", 2]]]',
    "a boolean coordinate": "[[[true, 2]]]",
    "null": "[[[null, 2]]]",
    "NaN": "[[[NaN, 2]]]",
    "Infinity": "[[[Infinity, 2]]]",
    "an integer of 5,000 digits": "[[[" + "9" * 5000 + ", 2]]]",
    "nested one level too deep": "[[[[1, 2]]]]",
    "nested 300,000 deep": "[" * 300_000 + "]" * 300_000,
    "too long": "[[" + ",".join(["[1.5,2.5]"] * 10_000) + "]]",
    "too many points": "[[" + ",".join(["[1,2]"] * (P + 1)) + "]]",
    "too many strokes": "[" + ",".join(["[[1,2]]"] * (S + 1)) + "]",
    "not UTF-8": b"[[[1, 2]]]\xff",
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_bad_stored_text_gets_one_clear_sentence(text):
    with pytest.raises(canvas.DrawingRejected) as err:
        canvas.decode_strokes(text)
    message = str(err.value)
    assert message.endswith(".") and ". " not in message and "Error" not in message


@pytest.mark.parametrize("value", [None, 5, [[[1, 2]]], {"a": 1}])
def test_stored_strokes_must_be_text(value):
    with pytest.raises(canvas.DrawingRejected):
        canvas.decode_strokes(value)


def test_text_written_elsewhere_with_spaces_or_bytes_is_read_alike():
    compact = canvas.decode_strokes("[[[10,20],[30.5,40]],[[5,5]]]")
    spaced = canvas.decode_strokes(
        json.dumps([[[10, 20], [30.5, 40]], [[5, 5]]]).encode()  # bytes, default separators
    )
    assert [a.tolist() for a in compact] == [a.tolist() for a in spaced]
    assert [a.tolist() for a in compact] == [[[10.0, 20.0], [30.5, 40.0]], [[5.0, 5.0]]]
    # Brackets inside a string are no nesting, and a string is still no coordinate.
    with pytest.raises(canvas.DrawingRejected, match="not finite numbers"):
        canvas.decode_strokes('[[["[[[[[[", 1]]]')


def _deep(n: int) -> list:
    """A list nested n deep, built without recursion."""
    top: list = []
    inner = top
    for _ in range(n):
        inner.append([])
        inner = inner[0]
    return top


DEEP_TEXT = "[" * 300_000 + "]" * 300_000
RAW = {
    "not JSON": '{"objects": [{"type": "path", "path": [["M", 1, 2]',
    "empty": "",
    "nested 300,000 deep": '{"objects": ' + DEEP_TEXT + "}",
    "nested 300,000 deep, alone": DEEP_TEXT,
    "nested 18 deep": '{"objects": [{"type": "path", "path": ' + "[" * 15 + "]" * 15 + "}]}",
    "a string at the top": '"objects"',
    "not UTF-8": b'{"objects": []}\xff',
    "too long": '{"objects": [], "pad": "' + "x" * canvas.MAX_FABRIC_BYTES + '"}',
}


@pytest.mark.parametrize("raw", RAW.values(), ids=RAW.keys())
def test_raw_canvas_text_that_is_not_json_or_too_deep_gets_one_sentence(raw):
    with pytest.raises(canvas.DrawingRejected) as err:
        canvas.strokes_from_fabric(raw)
    message = str(err.value)
    assert message.endswith(".") and ". " not in message and "Error" not in message


def test_the_canvas_data_as_text_reads_exactly_as_parsed(seven):
    fabric = _fabric(seven)
    fabric["objects"][0]["shadow"] = {"color": "[[[[{{{{", "blur": 0}  # brackets in a string
    parsed = canvas.strokes_from_fabric(fabric)
    for text in (json.dumps(fabric), json.dumps(fabric, indent=2).encode()):
        got = canvas.strokes_from_fabric(text)
        assert len(got) == len(parsed) and all(np.array_equal(a, b) for a, b in zip(got, parsed))
    assert canvas.strokes_from_fabric("null") == [] == canvas.strokes_from_fabric('{"objects": []}')


def test_parsed_canvas_data_nested_300000_deep_is_refused_or_skipped_without_recursion(seven):
    deep = _deep(300_000)
    for where in (
        {"objects": deep},
        {"objects": [{"type": "path", "path": deep}]},
        {"objects": [{"type": "path", "path": [deep]}]},
        {"objects": [{"type": "path", "path": [["M", deep, 1]]}]},
        {"objects": [{"type": "path", "path": [["M", 1, 1], ["L", 90, 90]], "scaleX": deep}]},
        deep,
    ):
        with pytest.raises(canvas.DrawingRejected):
            canvas.strokes_from_fabric(where)
    # Where the reader never looks (a property it does not use), depth costs nothing.
    fabric = _fabric(seven)
    fabric["objects"][0]["clipPath"] = deep
    assert len(canvas.strokes_from_fabric(fabric)) == len(seven)
