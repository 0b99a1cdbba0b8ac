"""The drawing page in a real browser: the mouse draws digits, both networks read them."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_utils import (
    CANVAS_FRAMES,
    app_and_browser,
    draw,
    streamlit_server,
    touch_draw,
)

from mnist_models import data
from mnist_models.drawings import synth

pytestmark = pytest.mark.browser

# The canvas component's own stylesheet, fetched by the browser after its script.
STYLESHEET = "**/bidi-components/streamlit-drawable-canvas*/index-style.css"

ANSWERS = (
    "() => { const a = document.getElementById('answer-mlp');"
    " const b = document.getElementById('answer-cnn');"
    " return a && b ? [a.textContent, b.textContent] : null; }"
)


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
    # No wait for the page's first run (the server's start-up) to end: a person draws as
    # soon as the canvas is there, and so does the first of these tests.
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
    page.get_by_role("button", name="Clear the canvas").click()
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


def _line(*points, n: int = 15) -> list[tuple[float, float]]:
    """Mouse positions along the segments through `points`."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
    return out + [points[-1]]


def test_a_one_with_a_flag_and_a_thin_zero_are_read_by_both(page):
    """Both narrow: the thin 0 is read wider (and stays a 0), the 1's flag is not stretched
    into a 7's bar."""
    box = page.locator("canvas").first.bounding_box()
    k = box["width"] / 336  # drawn in the coordinates of a 336 px canvas
    one = [_line((105 * k, 100 * k), (150 * k, 60 * k), (160 * k, 290 * k))]
    t = np.linspace(-np.pi / 2, 1.5 * np.pi, 50)
    zero = [list(zip((200 + 30 * np.cos(t)) * k, (170 + 140 * np.sin(t)) * k))]
    for label, strokes in ((1, one), (0, zero)):
        clear(page)
        draw(page, box, strokes)
        assert read_answers(page) == (label, label)


def test_two_digits_drawn_side_by_side_are_said_to_be_two(page):
    """A 1 and a 2 drawn with the mouse: not "Both networks read 2", but two digits, 1 2."""
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    k = box["width"] / 336
    hook = [
        (150 + 45 * np.cos(a), 115 - 35 * np.sin(a)) for a in np.radians(np.linspace(160, -20, 15))
    ]
    two = hook + _line(hook[-1], (110, 220), (195, 220))[1:]
    strokes = [_line((60, 80), (60, 220)), two]
    draw(page, box, [[(x * k, y * k) for x, y in s] for s in strokes])
    read_answers(page)
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("This looks like 2 digits side by side, 1 2."), verdict
    assert page.get_by_text("several digits?").count() == 2


def test_a_stroke_begun_in_the_top_right_corner_is_drawn(page):
    """The component's toolbar used to hide over the top-right corner and swallow strokes
    begun there before the pointer had hovered (any touch, any quick mouse)."""
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    seven = synth.place_strokes(stroke_digit(7), 120, box["width"] - 126, 4)
    assert seven[0][0][0] >= box["width"] - 131 and seven[0][0][1] <= 10  # in that corner
    # The pointer comes from elsewhere, as a finger does.
    page.get_by_text("What digit is this?").click()
    page.wait_for_timeout(500)
    assert not page.locator(".dc-toolbar").is_visible()  # nothing over the canvas
    draw(page, box, seven)
    assert read_answers(page) == (7, 7)


def test_the_toolbar_offers_undo_redo_and_clear_and_drawing_always_draws(page):
    """Only what helps is offered (no selection mode, no "update the app", no second
    Clear), and after any click on it a new stroke still draws and is read."""
    clear(page)
    tools = page.get_by_role("toolbar", name="Drawing tools").get_by_role("button")
    assert tools.all_inner_texts() == ["↶ Undo", "↷ Redo", "Clear"]
    for gone in ("Edit", "Update the app with this drawing", "Reset canvas & history"):
        assert page.get_by_role("button", name=gone, exact=True).count() == 0
    undo = page.get_by_role("button", name="Undo the last stroke")
    redo = page.get_by_role("button", name="Redo", exact=True)
    assert undo.is_disabled() and redo.is_disabled()  # nothing drawn yet
    box = page.locator("canvas").first.bounding_box()
    one = [[(box["width"] * 0.5, box["height"] * f) for f in (0.15, 0.5, 0.85)]]  # one stroke
    seven = [[(90, 80), (300, 80), (170, 360)]]  # one stroke, drawn with many mouse moves
    draw(page, box, one, steps=10)
    assert read_answers(page) == (1, 1)
    assert undo.is_enabled()
    undo.click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    assert redo.is_enabled()
    redo.click()
    assert read_answers(page) == (1, 1)  # the 1 is back
    clear(page)
    for tool in (undo, redo):  # clicked while there is nothing to undo or redo
        tool.click(force=True)
    draw(page, box, seven, steps=10)  # still a stroke, not a selection box
    assert read_answers(page) == (7, 7)
    undo.click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    draw(page, box, seven, steps=10)  # after an undo: a new stroke draws and is read
    assert read_answers(page) == (7, 7)
    page.keyboard.press("Control+z")  # the keyboard's undo too
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    page.keyboard.press("Control+Shift+z")
    assert read_answers(page) == (7, 7)


def test_clearing_the_canvas_removes_the_prediction(page):
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(7), 200, 60, 60))
    assert read_answers(page) == (7, 7)
    clear(page)  # asserts that no answer is left on the page
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(0), 150, 100, 100))
    assert read_answers(page) == (0, 0)


def test_a_phone_shows_canvas_and_both_answers_without_scrolling(app):
    """390x844 touch: the canvas spans the screen, and once the finger lifts both answers
    are side by side below it, in view; the page list is one labelled tap away."""
    browser, url = app
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    pg = ctx.new_page()
    pg.goto(url)
    canvas = pg.locator("canvas").first
    canvas.wait_for(timeout=60_000)
    pg.wait_for_timeout(500)  # the canvas takes the screen width once its styles are in
    box = canvas.bounding_box()
    assert box["width"] >= 350 and box["x"] <= 20
    touch_draw(ctx, pg, box, synth.place_strokes(stroke_digit(1), 250, 50, 40))
    assert read_answers(pg) == (1, 1)
    assert pg.evaluate("() => window.scrollY") == 0
    mlp, cnn = (
        pg.locator(f"section.answer:has(#answer-{k})").bounding_box() for k in ("mlp", "cnn")
    )
    assert abs(mlp["y"] - cnn["y"]) < 2 and mlp["x"] + mlp["width"] <= cnn["x"]  # side by side
    assert mlp["y"] >= box["y"] + box["height"]  # below the canvas
    assert max(mlp["y"] + mlp["height"], cnn["y"] + cnn["height"]) <= 844  # in view
    pages = pg.get_by_role("button", name="Expand sidebar")
    assert pages.is_visible()
    pages.tap()
    pg.get_by_role("link", name="Retrain").wait_for(timeout=10_000)
    ctx.close()


def test_a_projector_gets_a_large_canvas_and_a_presentation_mode(app):
    """1920x1080: the canvas is at least 560 px; ?present=1 hides the navigation and
    explanations and keeps the canvas, both answers and the verdict."""
    browser, url = app
    pg = browser.new_page(viewport={"width": 1920, "height": 1080})
    pg.goto(url)
    canvas = pg.locator("canvas").first
    canvas.wait_for(timeout=60_000)
    pg.wait_for_timeout(500)
    assert canvas.bounding_box()["width"] >= 560
    pg.goto(url + "/?present=1")
    canvas.wait_for(timeout=60_000)
    pg.get_by_text("Draw a digit.").wait_for(timeout=30_000)
    # The canvas (in the component's shadow root) is scaled to the window by the page's
    # script once its styles are in: give it a moment on a busy machine.
    for _ in range(150):
        if canvas.bounding_box()["width"] >= 600:
            break
        pg.wait_for_timeout(100)
    box = canvas.bounding_box()
    assert box["width"] >= 600
    assert not pg.get_by_role("link", name="Retrain").is_visible()
    assert pg.locator('[data-testid="stCaptionContainer"]:visible').count() == 0
    draw(pg, box, synth.place_strokes(stroke_digit(3), box["width"] * 0.6, 80, 80))
    assert read_answers(pg) == (3, 3)
    assert pg.locator("#verdict").inner_text() == "Both networks read 3."
    assert pg.get_by_text("How the drawing becomes").count() == 0
    pg.get_by_role("button", name="Leave presentation").click()
    pg.get_by_role("link", name="Retrain").wait_for(timeout=30_000)
    pg.close()


def test_a_digit_begun_right_after_clear_is_kept(page):
    """The page's Clear empties the canvas in the browser: a stroke drawn at once after
    it is not lost to a re-created canvas (it used to vanish within ~150 ms)."""
    clear(page)
    box = page.locator("canvas").first.bounding_box()
    draw(page, box, synth.place_strokes(stroke_digit(7), 200, 60, 60))
    assert read_answers(page) == (7, 7)
    for _ in range(2):
        page.get_by_role("button", name="Clear the canvas").click()
        draw(page, box, synth.place_strokes(stroke_digit(1), 220, 100, 60))  # no pause
        assert read_answers(page) == (1, 1)
        page.wait_for_timeout(300)  # the app has settled: the stroke is still there
        assert read_answers(page) == (1, 1)
    page.get_by_role("button", name="Clear the canvas").click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)


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
    page.get_by_role("button", name="Undo the last stroke").click()
    assert read_answers(page) == (1, 1)


@pytest.mark.parametrize("width", [1400, 680])  # 680: the title wraps (answers.css)
def test_the_canvas_holds_still_while_a_new_server_starts(app, tmp_path, width):
    """At a server's first page view the canvas comes a second or more before torch and
    the title naming the networks. It is shown in its place and at its size from its first
    frame (it used to move down under the pen when the title came, show unscaled with the
    component's toolbar for a moment, and, until the component's stylesheet came, show its
    drawing layer a canvas's height below its place), so a digit drawn at once is read as
    drawn."""
    browser = app[0]  # the module's Chromium (one Playwright a process), a server of its own
    with streamlit_server(env={"MNIST_APP_HOME": str(tmp_path)}) as url:
        ctx = browser.new_context(viewport={"width": width, "height": 1000})
        ctx.add_init_script(CANVAS_FRAMES)
        pg = ctx.new_page()
        # The component's stylesheet comes a moment after its script, as it did on a busy
        # CI machine: frames painted before it must show the canvas laid out all the same.
        pg.route(STYLESHEET, lambda route: (time.sleep(1.5), route.continue_()))
        pg.goto(url)
        pg.locator("canvas").first.wait_for(timeout=60_000)
        box = pg.locator("canvas").first.bounding_box()
        k = box["width"] / 448  # the canvas scaled to its column
        draw(pg, box, synth.place_strokes(stroke_digit(1), 240 * k, 60 * k, 40 * k))
        assert read_answers(pg, timeout=60) == (1, 1)
        pg.wait_for_function("() => document.title.startsWith('MNIST: ')", timeout=30_000)
        frames = pg.evaluate("() => window.__canvasFrames")
        assert len(frames) == 1 and not frames[0]["toolbar"], frames
        assert pg.get_by_role("heading", name="What digit is this? MLP vs ConvNet").count() == 1
        ctx.close()


@pytest.mark.parametrize("size,least", [((844, 390), 220), ((740, 360), 190), ((768, 1024), 400)])
def test_a_phone_sideways_or_a_tablet_draws_without_scrolling(app, size, least):
    """On a phone held sideways the canvas and both answers are in the window together (the
    canvas began under its bottom edge, 280 px down a 390 px window); on a tablet held
    upright the canvas is over the answers and larger (it was 275 px beside them)."""
    from room_phones import out_of_view

    browser, url = app
    ctx = browser.new_context(
        viewport={"width": size[0], "height": size[1]},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    pg = ctx.new_page()
    pg.goto(url)
    pg.locator("canvas").first.wait_for(timeout=60_000)
    pg.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
    pg.wait_for_timeout(300)
    assert not out_of_view(pg, ".digit-canvas-host")
    box = pg.locator("canvas").first.bounding_box()
    assert box["width"] >= least, box
    k = box["width"] / 448
    touch_draw(ctx, pg, box, synth.place_strokes(stroke_digit(4), 240 * k, 100 * k, 80 * k))
    assert read_answers(pg) == (4, 4)
    for what in ("#verdict", "#answer-mlp", "#answer-cnn", ".digit-canvas-host", ".canvas-head"):
        assert not out_of_view(pg, what), what
    ctx.close()
