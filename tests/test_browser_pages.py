"""Every page in a real browser: no console errors, no failed requests, no serious or
critical accessibility findings (axe-core) in the light and the dark theme; the Explorer's
Compare takes a test digit to the drawing page."""

from __future__ import annotations

import os
import re

import pytest
from browser_utils import app_and_browser, draw

from mnist_models import data
from mnist_models.drawings import synth

pytestmark = pytest.mark.browser
SLOW = 240_000  # ms: the first visit reads the 10,000 test digits through both networks
# Address -> a text each page shows once it has run.
PAGES = {
    "": "Nothing to read yet",
    "retrain": "Retrain the networks",
    "explorer": "Where the networks disagree",
    "experiments": "Where to say",
}
# Opened directly at /<page>, Streamlit's own front end first looks for the server at
# /<page>/_stcore/... (404) and then at /_stcore/... (streamlit/streamlit#7074, open);
# those two probes are the only failures allowed.
STREAMLIT_PROBE = re.compile(r"/[a-z-]+/_stcore/(health|host-config)$")


class Watch:
    """Console errors and warnings, failed requests and HTTP errors seen by one page."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        # A request the browser cancels because the page navigates on (a reload) is no error.
        page.on(
            "requestfailed",
            lambda r: (
                r.failure != "net::ERR_ABORTED" and self._add(r.url, f"request failed: {r.url}")
            ),
        )
        page.on(
            "response", lambda r: r.status >= 400 and self._add(r.url, f"HTTP {r.status}: {r.url}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _add(self, url: str, text: str) -> None:
        if not STREAMLIT_PROBE.search(url.split("?")[0]):
            self.problems.append(text)

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self._add(msg.location.get("url", "") or "", f"console {msg.type}: {msg.text}")


def axe_findings(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("app-home")


@pytest.fixture(scope="module")
def app(home):
    with app_and_browser(home) as (url, browser):
        yield url, browser


def settle(page, timeout: int = SLOW) -> None:
    """Wait until the app has stopped running the script."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout)


def open_page(browser, url: str, name: str):
    """Open the app at its root and follow the top navigation to a page, as a visitor would."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("What digit is this?").wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("link", name=name).first.click()
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_is_clean_and_accessible(app, path, scheme):
    """Opened at its own address: no console error or warning (Vega's included), no failed
    or outside request, and nothing serious or critical for axe-core; the drawing page
    is checked with a digit read, so its answers are checked too."""
    url, browser = app
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(f"{url}/{path}")
    page.get_by_text(PAGES[path]).first.wait_for(timeout=SLOW)
    settle(page)
    if path == "":
        test = data.load_split("test")
        box = page.locator("canvas").first.bounding_box()
        draw(
            page, box, synth.place_strokes(synth.digit_strokes(test.images[0].numpy()), 250, 80, 80)
        )
        page.locator("#answer-cnn").wait_for(timeout=30_000)
        settle(page)
    else:
        charts = {"explorer": 2, "experiments": 3}.get(path, 0)
        if charts:
            page.locator(
                '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
            ).nth(charts - 1).wait_for(timeout=SLOW)
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.dataset.digitTheme") == scheme
    assert not watch.problems
    assert not axe_findings(page)
    no_errors(page)
    ctx.close()


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = os.environ.get("BROWSER_SCREENSHOTS")
    if shot:
        page.screenshot(
            path=f"{shot}/{page.url.rstrip('/').rsplit('/', 1)[-1]}.png", full_page=True
        )


def test_experiments_page(app):
    url, browser = app
    page = open_page(browser, url, "Experiments")
    page.get_by_role("heading", name="Experiments").wait_for(timeout=60_000)
    page.get_by_text("Can you trust the percentages?").wait_for(timeout=SLOW)
    settle(page)
    page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for(timeout=SLOW)
    no_errors(page)
    page.close()


def test_explorer_compare_opens_the_digit_on_the_drawing_page(app):
    url, browser = app
    page = open_page(browser, url, "Test-set explorer")
    page.get_by_role("heading", name="Test-set explorer").wait_for(timeout=60_000)
    page.get_by_text("Where the networks disagree").wait_for(timeout=SLOW)
    settle(page)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    charts.nth(1).wait_for(timeout=SLOW)  # the chart library loads after the script has run
    assert charts.count() == 2
    no_errors(page)
    page.get_by_role("radio", name=CHOICES).first.click()
    page.get_by_text("sent from the Test-set explorer").wait_for(timeout=60_000)
    settle(page)
    assert page.locator("#answer-cnn").count() == 1
    no_errors(page)
    page.get_by_role("button", name="Back to drawing").click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=60_000)
    page.close()


# Every text drawn in the Experiments charts, with its colour, and whether any curve
# passes through it (points along each line, in screen pixels).
CHART_TEXTS = """() => {
  const lines = [];
  for (const path of document.querySelectorAll('[data-testid="stVegaLiteChart"] .mark-line path')) {
    const m = path.getScreenCTM(), n = path.getTotalLength();
    for (let i = 0; i <= 300; i++) {
      const p = path.getPointAtLength(n * i / 300);
      lines.push([m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f]);
    }
  }
  const out = [];
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    const frame = chart.querySelector('svg').getBoundingClientRect();
    for (const t of chart.querySelectorAll('.mark-text.role-mark text')) {
      const r = t.getBoundingClientRect();
      out.push({text: t.textContent, fill: getComputedStyle(t).fill,
                crossed: lines.some(([x, y]) => x > r.left && x < r.right && y > r.top
                                    && y < r.bottom),
                inside: r.left >= frame.left - 1 && r.right <= frame.right + 1});
    }
  }
  return out;
}"""


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""

    def lum(c: str) -> float:
        rgb = [int(v) / 255 for v in re.findall(r"[0-9.]+", c)[:3]]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize(
    "scheme,width", [("dark", 1280), ("light", 1280), ("light", 390), ("dark", 390)]
)
def test_experiments_chart_text_is_legible_clear_of_the_curves_and_in_the_frame(app, scheme, width):
    """The blog's claims and the bin counts are drawn in the theme's ink (they were black on
    near-black in the dark theme), cross no curve, are not cut off on a phone, and no table
    makes the page scroll sideways."""
    url, browser = app
    phone = width < 500
    ctx = browser.new_context(
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
        is_mobile=phone,
        has_touch=phone,
    )
    page = ctx.new_page()
    page.goto(f"{url}/experiments")
    page.locator('[data-testid="stVegaLiteChart"] svg').nth(2).wait_for(timeout=SLOW)
    settle(page)
    page.wait_for_timeout(1000)
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('.stApp')).backgroundColor"
    )
    texts = page.evaluate(CHART_TEXTS)
    claims = [t for t in texts if t["text"].startswith("blog: ")]
    counts = [t for t in texts if re.fullmatch(r"[0-9,]+", t["text"])]
    assert [t["text"] for t in claims] == ["blog: 95%", "blog: 94%"] and len(counts) >= 10
    for t in claims + counts:
        assert contrast(t["fill"], background) >= 4.5, (t, background)
        assert t["inside"], t
    assert not any(t["crossed"] for t in claims), claims
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    ctx.close()


def phone(browser, scheme: str = "light"):
    """A 390x844 touch screen."""
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        color_scheme=scheme,
        is_mobile=True,
        has_touch=True,
    )


# Each gallery's tiles' boxes, in page order.
TILES = """() => [...document.querySelectorAll('.explorer-tiles')].map(
  g => [...g.querySelectorAll('.tile')].map(t => t.getBoundingClientRect().toJSON()))"""
# The digits a gallery's Compare choice offers (radio buttons), by their labels.
CHOICES = re.compile(r"^#\d+$")


def rows_of(tiles: list) -> list[list]:
    rows: dict[int, list] = {}
    for t in tiles:
        rows.setdefault(round(t["y"]), []).append(t)
    return list(rows.values())


def test_explorer_tiles_three_a_row_on_a_phone_six_on_a_laptop(app):
    """On a phone the Explorer shows several tiles a row (one a row was ~9,000 px of
    scrolling), six on a laptop; each gallery's Compare choice offers its tiles' digits."""
    url, browser = app
    ctx = phone(browser)
    page = ctx.new_page()
    page.goto(f"{url}/explorer")
    page.locator(".tile").nth(5).wait_for(timeout=SLOW)
    settle(page)
    tiles = page.evaluate(TILES)[0]
    assert len(rows_of(tiles)[0]) == 3, rows_of(tiles)[0]
    assert all(t["x"] >= 0 and t["x"] + t["width"] <= 390 for t in tiles)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    ctx.close()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/explorer")
    page.locator(".tile").nth(5).wait_for(timeout=SLOW)
    settle(page)
    grids = page.evaluate(TILES)
    rows = rows_of(grids[0])
    assert len(rows) == 5 and all(len(r) == 6 for r in rows)
    choices = page.get_by_role("radio", name=CHOICES)
    assert choices.count() == sum(len(g) for g in grids)
    page.close()


def test_the_wall_fits_a_phone(app, home):
    """Title, code and address on the wall are whole on a phone (they were cut off)."""
    from mnist_models.rooms import store as room_store

    rooms = room_store.open_store(home / "rooms.sqlite3")
    code = rooms.create_room("Year 10 maths, Tuesday").code
    rooms.close()
    url, browser = app
    ctx = phone(browser)
    page = ctx.new_page()
    page.goto(f"{url}/wall?room={code}")
    page.locator("#wall-url").wait_for(timeout=90_000)
    settle(page)
    for sel in (".wall-title", "#wall-code", "#wall-url", "#wall-qr"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (sel, box)
        # Nothing hidden inside the box either (text wider than its element).
        assert page.locator(sel).evaluate("e => e.scrollWidth <= e.clientWidth + 1"), sel
    # Six letters in two groups of three, as the wall reads them out (rules.shown_code).
    assert page.locator("#wall-code").inner_text() == f"{code[:3]} {code[3:]}"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    ctx.close()
