"""Phones for the room browser test and benchmark: touch contexts that draw, label and send."""

from __future__ import annotations

import functools
import time

from mnist_models import data
from mnist_models.drawings import synth

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}
WALL = {"viewport": {"width": 1920, "height": 1080}}
ANSWERS = (
    "() => { const a = document.getElementById('answer-mlp');"
    " const b = document.getElementById('answer-cnn');"
    " return a && b ? [+a.textContent, +b.textContent] : null; }"
)


@functools.cache
def _test_split() -> data.Split:
    return data.load_split("test")


def digit_strokes(label: int, skip: int = 0):
    """Pen paths along the skeleton of a real MNIST test digit with this label (28-px units)."""
    test = _test_split()
    idx = [i for i in range(len(test)) if int(test.labels[i]) == label][skip]
    return synth.digit_strokes(test.images[idx].numpy())


class Phone:
    """One phone: a touch context on the join page, drawing with real touch events."""

    def __init__(self, browser, url: str, code: str, nickname: str | None = None) -> None:
        self.context = browser.new_context(**PHONE)
        self.page = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.page)
        self.page.goto(f"{url}/join?room={code}")
        self.page.locator("canvas").last.wait_for(timeout=90_000)
        self.page.locator("#verdict").wait_for(timeout=60_000)
        if nickname:
            box = self.page.get_by_label("Your name on the wall (optional)")
            box.fill(nickname)
            box.press("Enter")

    def draw(self, strokes) -> float:
        """Draw strokes (28-px units) across the middle of the canvas; returns pen-up time."""
        box = self.page.locator("canvas").last.bounding_box()
        placed = synth.place_strokes(
            strokes, 0.6 * box["height"], 0.25 * box["width"], 0.2 * box["height"]
        )
        for s in placed:
            pts = [{"x": box["x"] + float(x), "y": box["y"] + float(y)} for x, y in s]
            self.cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": pts[:1]}
            )
            for p in pts[1:]:
                self.cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [p]})
            self.cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        return time.monotonic()

    def answers(self, timeout: float = 30.0) -> tuple[int, int]:
        """Both answers, once the page has settled on the whole drawing.

        The canvas reports ~200 ms after the pen lifts, stroke by stroke, so the
        answers must stay the same, with no run in progress, for a moment.
        """
        deadline = time.monotonic() + timeout
        self.page.wait_for_timeout(600)
        last, same = None, 0
        while time.monotonic() < deadline:
            running = self.page.locator('[data-testid="stStatusWidget"]').count() > 0
            now = self.page.evaluate(ANSWERS)
            same = same + 1 if (now == last and now is not None and not running) else 0
            if same >= 3:
                return tuple(now)
            last = now
            self.page.wait_for_timeout(200)
        raise AssertionError(f"the answers did not settle: last seen {last}")

    def send(self, label: int | None) -> float:
        """Tap the label (if any) and Send; returns when the phone confirms, canvas cleared."""
        if label is not None:
            self.page.locator('[class*="st-key-room-labels"] button').nth(label).tap()
        sent = time.monotonic()
        self.page.get_by_role("button", name="Send").tap()
        self.page.get_by_text("to the wall").wait_for(timeout=30_000)
        self.page.wait_for_function("() => !document.getElementById('answer-mlp')", timeout=30_000)
        return sent

    def close(self) -> None:
        self.context.close()
