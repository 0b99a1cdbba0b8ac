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
        page.on("requestfailed", lambda r: self._add(r.url, f"request failed: {r.url}"))
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
def app(tmp_path_factory):
    with app_and_browser(tmp_path_factory.mktemp("app-home")) as (url, browser):
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
    page.get_by_role("button", name="Compare").first.click()
    page.get_by_text("sent from the Test-set explorer").wait_for(timeout=60_000)
    settle(page)
    assert page.locator("#answer-cnn").count() == 1
    no_errors(page)
    page.get_by_role("button", name="Back to drawing").click()
    page.get_by_text("Nothing to read yet").wait_for(timeout=60_000)
    page.close()
