"""Several digits side by side (mnist_models/reading/several.py): "12" is not read as a 2."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_models.drawings import synth
from mnist_models.reading import headline, pen, several
from mnist_models.reading import read as mread


def line(*points: tuple[float, float], n: int = 20) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return np.concatenate(
        [np.array(a) + t * (np.array(b) - np.array(a)) for a, b in zip(points, points[1:])]
    )


def ring(cx: float, cy: float, rx: float, ry: float, a0=0.0, a1=360.0) -> np.ndarray:
    t = np.radians(np.linspace(a0, a1, 50))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], 1)


def two(left: float) -> np.ndarray:
    """A 2 in one stroke: a hook, a diagonal and a base, 90 px wide and 140 px tall."""
    hook = ring(left + 45, 115, 40, 35, 160, -20)
    return np.concatenate([hook, line(tuple(hook[-1]), (left + 5, 220), (left + 90, 220))])


@pytest.fixture(scope="module")
def models():
    loaded, _ = mread.load_active()
    return loaded


def test_strokes_part_into_groups_with_a_gap_between_them():
    one, zero = line((40, 80), (40, 220)), ring(130, 150, 40, 70)
    groups = several.side_by_side([zero, one])  # any order: grouped left to right
    assert groups is not None and [len(g) for g in groups] == [1, 1]
    assert groups[0][0] is one and groups[1][0] is zero
    # A 7's crossbar over its stem, a digit in one stroke, a dot, a gap under GAP: one drawing.
    seven = [line((90, 60), (190, 60), (120, 220)), line((115, 140), (175, 140))]
    assert several.side_by_side(seven) is None
    assert several.side_by_side([zero]) is None
    assert several.side_by_side([one, ring(80, 60, 4, 4)]) is None  # an i: the dot is not TALL
    close = 40 + 140 * several.GAP * 0.5  # half the gap it takes, from the 1 to the 0's left
    assert several.side_by_side([one, ring(close + 40, 150, 40, 70)]) is None
    # Taller than wide (a 4 or a 0 in two parts), or more than MOST: one drawing.
    assert several.side_by_side([ring(100, 150, 20, 90, 100, 260), ring(150, 150, 20, 90)]) is None
    sticks = [line((20 + 30 * i, 80), (20 + 30 * i, 220)) for i in range(several.MOST + 1)]
    assert several.side_by_side(sticks) is None
    assert len(several.side_by_side(sticks[: several.MOST])) == several.MOST


def test_twelve_is_two_digits_not_a_confident_two(models):
    """Read as one drawing, both networks are sure it is a 2; read in its parts, it is 1 2."""
    twelve = [line((60, 80), (60, 220)), two(150)]
    pre = pen.from_strokes(twelve)
    assert pre.pieces is not None and len(pre.pieces) == 2
    reading = mread.read(pre, models)
    assert {r.prediction.digit for r in reading.networks.values()} == {2}
    assert reading.several == [1, 2]
    line_ = headline.headline(headline.said_of(reading), None, reading.several)
    assert not line_.confident and line_.kind == "mixed"
    assert line_.text.startswith("This looks like 2 digits side by side, 1 2. Draw one at a time")
    assert reading.to_json()["several_digits"] == [1, 2]
    # Three digits, and a stray tap beside them, still read.
    x = [line((30, 80), (30, 220)), two(70), line((180, 80), (270, 80), (215, 220))]
    assert mread.read(pen.from_strokes(x + [ring(320, 300, 2, 2)]), models).several == [1, 2, 7]


def test_one_digit_in_parts_still_reads_as_one(models):
    """A part that no network reads as a sure digit keeps the drawing whole: a 0 in two arcs,
    a 4 whose bar stops short of its stem, and traced MNIST digits drawn as on the page."""
    zero = [ring(125, 140, 50, 90, 100, 260), ring(155, 140, 50, 90, -80, 80)]
    four = [line((120, 60), (90, 150), (150, 150)), line((160, 70), (160, 230))]
    for drawing in (zero, four):
        assert mread.read(pen.from_strokes(drawing), models).several is None
    from mnist_models import data

    test = data.load_split("test")
    rng = np.random.default_rng(0)
    called = 0
    for img in test.images[:300].numpy():
        strokes = synth.digit_strokes(img)
        if strokes:
            placed = synth.place_strokes(strokes, rng.uniform(100, 300), 20, 20)
            pre = pen.from_strokes(placed)
            called += bool(pre.pieces) and mread.read(pre, models).several is not None
    assert called == 0


def test_a_piece_read_alone_is_not_split_again():
    pre = pen.from_strokes([line((60, 80), (60, 220)), two(150)], several=False)
    assert pre.pieces is None
