"""Heavy pages cost a visitor's share: a session's reruns are paced, the results shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import pace

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = str(ROOT / "app_pages" / "experiments.py")
EXPLORER = str(ROOT / "app_pages" / "explorer.py")


class Clock:
    """time for pace.pace: a clock that only sleeps move."""

    def __init__(self) -> None:
        self.now = 1024.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def paced_app() -> None:
    from app_pages import pace

    pace.pace()


def test_a_session_that_reruns_at_once_waits_for_its_turn(monkeypatch) -> None:
    monkeypatch.setattr(pace, "_due", {})
    clock = Clock()
    monkeypatch.setattr(pace, "time", clock)
    at = AppTest.from_function(paced_app).run()
    for _ in range(pace.BURST):  # a few quick changes never wait
        at.run()
    assert clock.slept == []
    at.run()  # then one run every interval
    at.run()
    assert clock.slept == [pytest.approx(pace.RUN_INTERVAL)] * 2
    clock.now += 0.25
    at.run()
    assert clock.slept[-1] == pytest.approx(pace.RUN_INTERVAL - 0.25)
    clock.now += 60
    at.run()  # a while later: no wait
    assert len(clock.slept) == 3
    other = AppTest.from_function(paced_app).run()  # another session has its own pace
    assert not other.exception and len(clock.slept) == 3


def test_the_heavy_pages_are_paced_and_cached(monkeypatch) -> None:
    """A rerun of Experiments or the Explorer waits its turn and computes nothing again
    (the Explorer's galleries neither: their tiles are built once per model version)."""
    import torch

    from mnist_models.training import calibration

    clock = Clock()
    monkeypatch.setattr(pace, "time", clock)
    calls: list[str] = []
    real_reliability = calibration.reliability
    real_softmax = torch.softmax

    def counted_reliability(*a, **k):
        calls.append("reliability")
        return real_reliability(*a, **k)

    def counted_softmax(*a, **k):
        calls.append("softmax")
        return real_softmax(*a, **k)

    from app_pages import common

    real_image_html = common.image_html

    def counted_image_html(*a, **k):
        calls.append("image_html")
        return real_image_html(*a, **k)

    monkeypatch.setattr(common, "image_html", counted_image_html)
    monkeypatch.setattr(calibration, "reliability", counted_reliability)
    monkeypatch.setattr(torch, "softmax", counted_softmax)
    for page in (EXPERIMENTS, EXPLORER):
        at = AppTest.from_file(page, default_timeout=120).run()
        assert not at.exception
        for _ in range(pace.BURST):  # the quick runs a client may have at once
            at.run()
        calls.clear()
        slept = len(clock.slept)
        at.run()
        assert not at.exception
        assert len(clock.slept) == slept + 1  # paced
        assert calls == [], calls  # nothing computed again: it comes from the shared caches


def test_one_client_shares_its_turns_across_its_sessions(monkeypatch) -> None:
    """Four sockets from one address get the turns of one client, not four."""
    clock = Clock()
    monkeypatch.setattr(pace, "time", clock)
    monkeypatch.setattr(pace, "_due", {})
    for _ in range(pace.BURST + 4):
        pace.pace("203.0.113.7")
    assert clock.slept == [pytest.approx(pace.RUN_INTERVAL)] * 3
    pace.pace("198.51.100.1")  # someone else: no wait
    assert len(clock.slept) == 3


def test_a_client_too_far_behind_is_told_so(monkeypatch) -> None:
    clock = Clock()
    monkeypatch.setattr(pace, "time", clock)
    far = clock.now + pace.MAX_WAIT + pace.BURST * pace.RUN_INTERVAL + 1
    monkeypatch.setattr(pace, "_due", {"127.0.0.1": far})

    def app() -> None:
        from app_pages import pace

        pace.pace("127.0.0.1")
        import streamlit as st

        st.write("computed")

    at = AppTest.from_function(app).run()
    assert [i.value for i in at.info] == [pace.BUSY]
    assert not at.markdown and clock.slept == []
