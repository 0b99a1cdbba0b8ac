"""The drawing page in a real browser: the mouse draws digits, both networks read them."""

from __future__ import annotations

import pytest
from browser_utils import app_and_browser, draw

from mnist_models import data, synth

pytestmark = pytest.mark.browser

ANSWERS = ("() => { const a = document.getElementById('answer-mlp');"
           " const b = document.getElementById('answer-cnn');"
           " return a && b ? [a.textContent, b.textContent] : null; }")


def stroke_digit(label: int, skip: int = 0):
    """Pen paths traced along the skeleton of a real MNIST test digit with this label."""
    test = data.load_split("test")
    idx = [i for i in range(len(test)) if int(test.labels[i]) == label][skip]
    return synth.digit_strokes(test.images[idx].numpy())


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(browser, url): one server and one Chromium for the whole module."""
    with app_and_browser(tmp_path_factory.mktemp("app-home")) as (url, browser):
        yield browser, url


@pytest.fixture(scope="module")
def page(app):
    browser, url = app
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(url)
    pg.locator("canvas").first.wait_for(timeout=60_000)
    pg.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    yield pg
    pg.close()


def read_answers(page, timeout: float = 30.0):
    """Both displayed answers, once the app has settled on the last stroke."""
    import time

    deadline = time.monotonic() + timeout
    page.wait_for_timeout(600)  # the canvas sends ~200 ms after mouse-up
    last, same = None, 0
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        now = page.evaluate(ANSWERS)
        same = same + 1 if (now == last and now is not None and not running) else 0
        if same >= 3:
            return tuple(int(v) for v in now)
        last = now
        page.wait_for_timeout(250)
    raise AssertionError(f"answers did not settle: last seen {last}")


def clear(page) -> None:
    page.get_by_role("button", name="Reset canvas & history").click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    # Streamlit removes the previous run's elements when the rerun ends, a moment later.
    page.wait_for_function(f"() => ({ANSWERS})() === null", timeout=10_000)


@pytest.mark.parametrize(
    "label,size,left,top",
    [(1, 240, 60, 40), (0, 120, 20, 190), (7, 300, 15, 15), (3, 160, 150, 30)],
)
def test_mouse_drawn_digit_is_read_by_both(page, label, size, left, top):
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(label), size, left, top))
    assert read_answers(page) == (label, label)


def test_a_stroke_begun_in_the_top_right_corner_is_drawn(page):
    """The canvas toolbar used to hide over the top-right corner and swallow strokes begun
    there before the pointer had hovered (any touch, any quick mouse)."""
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    seven = synth.place_strokes(stroke_digit(7), 120, 210, 4)
    assert seven[0][0][0] >= 205 and seven[0][0][1] <= 10  # begins in that corner
    # The pointer comes from elsewhere, as a finger does, and the toolbar has no focus.
    page.get_by_text("What digit is this?").click()
    page.wait_for_timeout(500)
    toolbar = page.locator(".dc-toolbar-card").bounding_box()
    assert toolbar["y"] + toolbar["height"] <= box["y"]  # not over the canvas, even unhovered
    draw(page, box, seven)
    assert read_answers(page) == (7, 7)


def test_clearing_the_canvas_removes_the_prediction(page):
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(7), 200, 60, 60))
    assert read_answers(page) == (7, 7)
    clear(page)  # the toolbar's reset; asserts that no answer is left on the page
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(0), 150, 100, 100))
    assert read_answers(page) == (0, 0)
    page.get_by_role("button", name="Clear").click()  # the page's own button
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    page.wait_for_function(f"() => ({ANSWERS})() === null", timeout=10_000)


def test_a_finger_on_a_touch_screen_draws_too(app):
    """A phone-sized touch screen: touch events draw, the page reads the digit."""
    browser, url = app
    ctx = browser.new_context(viewport={"width": 412, "height": 915}, has_touch=True,
                              is_mobile=True)
    pg = ctx.new_page()
    pg.goto(url)
    canvas = pg.locator("canvas").first
    canvas.wait_for(timeout=60_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cdp = ctx.new_cdp_session(pg)
    for stroke in synth.place_strokes(stroke_digit(1), 250, 40, 40):
        events = [("touchStart", stroke[0])] + [("touchMove", p) for p in stroke[1:]]
        for kind, (x, y) in events:
            cdp.send("Input.dispatchTouchEvent", {
                "type": kind, "touchPoints": [{"x": box["x"] + x, "y": box["y"] + y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert read_answers(pg) == (1, 1)
    ctx.close()


def test_undo_goes_back_to_the_previous_drawing(page):
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    # A 1, then a stroke that changes the drawing; undo must bring the 1 back.
    one = synth.place_strokes(stroke_digit(1), 220, 100, 60)
    draw(page, box, one)
    first = read_answers(page)
    assert first == (1, 1)
    draw(page, box, [[(20, 300), (320, 300)]])  # a long bar under it
    read_answers(page)
    page.get_by_role("button", name="Undo").click()
    assert read_answers(page) == (1, 1)
