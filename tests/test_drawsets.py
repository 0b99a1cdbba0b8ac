"""Drawn-digit sets: each variant draws the digit the way its name says."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_models.drawings import drawsets, synth


@pytest.fixture(scope="module")
def strokes(test_split):
    return synth.digit_strokes(test_split.images[0].numpy())  # a 7


def box(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allp = np.concatenate(strokes)
    return allp.min(0), allp.max(0)


def test_every_variant_stays_on_the_canvas_at_its_size(strokes):
    rng = np.random.default_rng(0)
    for _ in range(20):
        lo, hi = box(drawsets.variant_strokes(strokes, "plain", rng))
        assert lo.min() >= -1e-9 and hi.max() <= drawsets.CANVAS + 1e-9
        assert 0.3 * 336 - 1e-6 <= (hi - lo).max() <= 0.9 * 336 + 1e-6
        lo, hi = box(drawsets.variant_strokes(strokes, "tiny", rng))
        assert 0.10 * 336 - 1e-6 <= (hi - lo).max() <= 0.15 * 336 + 1e-6


def test_squashed_is_narrower_and_rotated_is_turned(strokes):
    rng = np.random.default_rng(1)
    lo, hi = box(strokes)
    w, h = hi - lo
    lo, hi = box(drawsets.variant_strokes(strokes, "squashed", rng))
    assert abs((hi - lo)[0] / (hi - lo)[1] - 0.6 * w / h) < 1e-6
    turned = synth.rotate(strokes, 20.0)
    a, b = strokes[0][-1] - strokes[0][0], turned[0][-1] - turned[0][0]
    angle = np.degrees(np.arctan2(b[1], b[0]) - np.arctan2(a[1], a[0]))
    assert abs((angle + 180) % 360 - 180 - 20) < 1e-6


def test_stray_mark_is_one_more_stroke_away_from_the_digit(strokes):
    rng = np.random.default_rng(2)
    for _ in range(20):
        out = drawsets.variant_strokes(strokes, "stray", rng)
        assert len(out) == len(strokes) + 1
        ink = np.concatenate(out[:-1])
        lo, hi = box(out[:-1])
        size = (hi - lo).max()
        gap = np.sqrt(((out[-1][:, None] - ink[None]) ** 2).sum(-1)).min()
        assert gap >= 0.25 * size  # clear of the digit (0.3 of its size from its skeleton)


def test_build_reads_through_the_page_path(test_split):
    images = test_split.images[:6].numpy()
    for variant in drawsets.VARIANTS:
        x, kept = drawsets.build(images, variant, seed=3)
        assert kept.all() and x.shape == (6, 1, 28, 28)
        assert 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError, match="unknown variant"):
        drawsets.build(images, "upside-down")


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning pixel by pixel, as the paper states it: the oracle."""
    img = np.pad(mask.astype(bool), 1)
    ring = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
    while True:
        changed = False
        for step in (0, 1):
            kill = []
            for y, x in zip(*np.nonzero(img)):
                p = [bool(img[y + dy, x + dx]) for dy, dx in ring]  # P2..P9
                count = sum(p)
                trans = sum(not p[i] and p[(i + 1) % 8] for i in range(8))
                p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
                if step == 0:
                    rule = not (p2 and p4 and p6) and not (p4 and p6 and p8)
                else:
                    rule = not (p2 and p4 and p8) and not (p2 and p6 and p8)
                if 2 <= count <= 6 and trans == 1 and rule:
                    kill.append((y, x))
            for y, x in kill:
                img[y, x] = False
            changed |= bool(kill)
        if not changed:
            return img[1:-1, 1:-1]


def test_skeletons_are_zhang_suens(test_split):
    """The table-driven thinning gives the textbook rule's pixels, on random blobs, bars
    at the image's edge and traced MNIST digits."""
    rng = np.random.default_rng(5)
    masks = [rng.random((rng.integers(1, 30), rng.integers(1, 30))) > 0.4 for _ in range(60)]
    masks += [np.ones((6, 6), bool), np.zeros((3, 3), bool), np.ones((2, 40), bool)]
    masks += [test_split.images[i].numpy() > 100 for i in range(10)]
    for mask in masks:
        got = synth.skeletonize(mask)
        assert got.shape == mask.shape and got.dtype == bool
        assert (got == zhang_suen(mask)).all()


def test_hand_shaped_ones_and_sevens_are_narrow_shapes_on_the_canvas():
    """flag1: the flag slants down-left from the stem's top; bar7: a level bar on a stem
    that starts at its right end and leans left. Both stay on the canvas, 35-85% of it
    tall, and most are as narrow as the digits the stretch widens (under 0.4)."""
    rng = np.random.default_rng(3)
    for kind in ("flag1", "bar7"):
        aspects = []
        for _ in range(200):
            st = drawsets.hand_strokes(kind, rng)
            lo, hi = box(st)
            assert lo.min() >= -1e-9 and hi.max() <= drawsets.CANVAS + 1e-9
            w, h = hi - lo
            assert 0.35 * 336 - 1e-6 <= h <= 0.85 * 336 * 1.03 + 1e-6
            aspects.append(w / h)
            # The corner: a 1's top (its flag starts lower), a 7's bar's right end.
            top = st[0][st[0][:, 1] < lo[1] + h / 4]
            pick = np.argmin(top[:, 1]) if kind == "flag1" else np.argmax(top[:, 0])
            start, corner = st[0][0], top[pick]
            assert start[0] < corner[0]  # the flag or bar reaches left from the top
            if kind == "flag1":
                assert start[1] > corner[1] + 0.1 * 0.35 * 336 * np.sin(np.radians(25)) - 1e-6
            else:
                assert abs(start[1] - corner[1]) <= 0.06 * h + 1e-6
        assert np.median(aspects) < 0.4
    x = drawsets.build_hand("flag1_18", 5, seed=1)
    assert x.shape == (5, 1, 28, 28) and float(x.amax()) > 0.5


def test_redrawn_sticks_get_a_flag_and_other_digits_none(train_split, monkeypatch):
    """Training's redrawn 1s: about FLAG_SHARE of the sticks get a flag from the top, down
    and to the left; a loop or a level stroke never does, nor almost any other digit."""
    rng = np.random.default_rng(0)
    stick = [np.stack([np.full(30, 14.0), np.linspace(4, 24, 30)], 1)]
    monkeypatch.setattr(drawsets, "FLAG_SHARE", 1.0)
    for _ in range(20):
        flagged = drawsets._with_flag(stick, rng)
        assert len(flagged) in (2, 3) and flagged[1] is stick[0]
        tip, top = flagged[0][0], flagged[0][-1]
        assert np.allclose(top, (14.0, 4.0))
        assert tip[0] < top[0] and tip[1] > top[1]  # left of the top and below it
        assert 0.12 * 20 - 1e-6 <= np.hypot(*(tip - top)) <= 0.35 * 20 + 1e-6
    t = np.linspace(0, 2 * np.pi, 40)
    loop = [np.stack([14 + 6 * np.cos(t), 14 + 9 * np.sin(t)], 1)]
    level = [np.stack([np.linspace(4, 24, 30), np.full(30, 14.0)], 1)]
    assert drawsets._with_flag(loop, rng) is loop and drawsets._with_flag(level, rng) is level
    monkeypatch.undo()
    labels = train_split.labels[:1500].numpy()
    traced = [synth.digit_strokes(img.numpy()) for img in train_split.images[:1500]]

    def flagged_share(digits) -> float:
        picked = [i for i in range(1500) if (labels[i] == 1) == (digits == 1) and traced[i]]
        gained = sum(
            len(drawsets._with_flag(traced[i], np.random.default_rng(i))) > len(traced[i])
            for i in picked
        )
        return gained / len(picked)

    assert 0.35 <= flagged_share(1) <= 0.55  # 89% of 1s are sticks, half of them flagged
    assert flagged_share(0) <= 0.002  # any other digit
