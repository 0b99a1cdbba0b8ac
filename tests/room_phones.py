"""Phones for the room browser test and benchmark: touch contexts that draw, label and send."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator

from browser_utils import CANVAS_FRAMES

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


# What the phone shows in words (the verdict, messages), for a failure's message.
SHOWN = """() => [...document.querySelectorAll('#verdict, [data-testid="stAlert"], #room-head')]
  .map(e => e.textContent.trim()).join(' | ')"""


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

    def __init__(
        self,
        browser,
        url: str,
        code: str,
        nickname: str | None = None,
        watch_canvas: bool = False,
        **context,
    ) -> None:
        self.context = browser.new_context(**{**PHONE, **context})
        if watch_canvas:  # canvas_frames() tells how the canvas was shown, frame by frame
            self.context.add_init_script(CANVAS_FRAMES)
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
        canvas = self.page.locator("canvas").last
        # After a Send the page puts up a fresh canvas: draw once it is there and laid out.
        canvas.wait_for(state="visible", timeout=90_000)  # a loaded CI machine is slow
        box = canvas.bounding_box()
        deadline = time.monotonic() + 30
        while box is None and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            box = canvas.bounding_box()
        assert box is not None, "the canvas never got a place on the page"
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
        box = self.page.locator("canvas").last.bounding_box()
        raise AssertionError(
            f"the answers did not settle: last seen {last}; the canvas at {box}; "
            f"the page says: {self.page.evaluate(SHOWN)}"
        )

    def canvas_frames(self) -> list[dict]:
        """Each change in how the canvas was shown ({top, left, width, toolbar}), from the
        first frame (a Phone made with watch_canvas=True)."""
        return self.page.evaluate("() => window.__canvasFrames")

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


# ---------------------------------------------------------------- looking at the pages

# Every visible text on the page with its computed font size (an element hidden from
# view, such as the 1-pixel "skip to content" link, is not text anyone reads).
TEXT_SIZES = """() => {
  const out = []; const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = w.nextNode())) {
    const t = n.textContent.trim(); const el = n.parentElement;
    if (!t || !el || !el.checkVisibility({visibilityProperty: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || r.bottom <= 0 || r.top >= innerHeight) continue;
    out.push([t.slice(0, 40), parseFloat(getComputedStyle(el).fontSize)]);
  }
  return out; }"""

# Each matching element's box, and the window's size and scroll position.
BOXES = """(sel) => ({boxes: [...document.querySelectorAll(sel)].map(e => {
  const r = e.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }),
  w: innerWidth, h: innerHeight, y: scrollY})"""


def out_of_view(page, selector: str) -> list[dict]:
    """The boxes of the elements matching `selector` not wholly in the window as it is."""
    got = page.evaluate(BOXES, selector)
    assert got["boxes"], f"nothing matches {selector}"
    return [
        b
        for b in got["boxes"]
        if b["top"] < 0 or b["left"] < 0 or b["bottom"] > got["h"] or b["right"] > got["w"]
    ]


def unlock(page, passcode: str) -> None:
    """Unlock the presenter's controls with the passcode, as the presenter would."""
    page.get_by_test_id("stPopoverButton").filter(has_text="Presenter").click()
    page.get_by_label("Passcode").fill(passcode)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_test_id("stPopoverButton").filter(has_text="Presenter:").wait_for(timeout=30_000)
    page.keyboard.press("Escape")  # close the popover


@contextlib.contextmanager
def server_on(port: int, env: dict[str, str]) -> Iterator[str]:
    """`streamlit run app.py` on this port (to start it again on the same one, as a
    restart of the server would); yields its URL."""
    import subprocess
    import sys
    import urllib.request

    from browser_utils import ROOT

    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
