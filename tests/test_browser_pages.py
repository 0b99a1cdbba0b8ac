"""The Test-set explorer and the Experiments page in a real browser: they open without errors,
and Compare takes a test digit to the drawing page."""

from __future__ import annotations

import os

import pytest
from browser_utils import app_and_browser

pytestmark = pytest.mark.browser
SLOW = 240_000  # ms: the first visit reads the 10,000 test digits through both networks


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


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = os.environ.get("BROWSER_SCREENSHOTS")
    if shot:
        page.screenshot(path=f"{shot}/{page.url.rstrip('/').rsplit('/', 1)[-1]}.png",
                        full_page=True)


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
