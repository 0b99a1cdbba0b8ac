"""The retraining page in a real browser: refuse bad input, train, watch, keep, cancel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_utils import launch_chromium, require_browser, streamlit_server

pytestmark = pytest.mark.browser

SUBSET = "Training images (1 to 60,000)"
PASSCODE = "browser-test-passcode"
EPOCHS = "Epochs (1 to 1,000)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` with a private app home, and a headless Chromium."""
    require_browser()
    home = tmp_path_factory.mktemp("app-home")
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    with streamlit_server("app.py", env=env) as url, launch_chromium() as browser:
        yield url, browser, home


def open_retrain(browser, url: str, presenter: bool = True, size: tuple[int, int] = (1400, 1100)):
    """A new browser (its own context) on the Retrain page, reached through the app's
    navigation; unlocked with the presenter passcode unless it is a visitor's."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.get_by_role("link", name="Retrain").click()  # the navigation
    live(page).get_by_text("Estimated duration on this machine").wait_for(timeout=60_000)
    if presenter:
        unlock(page, PASSCODE)
        page.get_by_test_id("stPopoverButton").filter(
            has_text="Presenter: Test presenter"
        ).wait_for(timeout=30_000)
    return page


def unlock(page, passcode: str) -> None:
    """Open the Presenter control and type a passcode, as the presenter would."""
    settle(page)
    # The popover's body opens in a layer of its own, outside the page's elements.
    page.get_by_test_id("stPopoverButton").filter(has_text="Presenter").click()
    page.get_by_label("Passcode").fill(passcode)
    page.get_by_label("Your name, shown to the room (optional)").fill("Test presenter")
    page.get_by_role("button", name="Unlock").click()
    settle(page)


def live(page):
    """Elements of the current run only (a rerun briefly leaves stale copies around)."""
    return page.locator('[data-stale="false"]')


def settle(page, quiet_ms: int = 600, timeout_ms: int = 30_000) -> None:
    """Wait until no script run has been in progress for quiet_ms."""
    running = page.locator('[data-testid="stStatusWidget"]')
    quiet, waited = 0, 0
    while quiet < quiet_ms:
        if waited > timeout_ms:
            raise AssertionError("the app kept running")
        quiet = 0 if running.count() else quiet + 100
        page.wait_for_timeout(100)
        waited += 100


def set_number(page, label: str, value: int) -> None:
    """Type a number into a number input and commit it, as a person would."""
    settle(page)
    box = live(page).get_by_label(label)
    box.fill(str(value))
    box.press("Enter")
    settle(page)
    assert box.input_value() == str(value)


def metric(page, label: str) -> str:
    """The value shown by the st.metric whose label starts with this text."""
    box = live(page).locator('[data-testid="stMetric"]', has_text=label)
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_train_both_networks_watch_progress_and_keep_one(server):
    url, browser, home = server
    page = open_retrain(browser, url)

    # Out of range: refused with a message, nothing starts.
    set_number(page, SUBSET, 0)
    live(page).get_by_text(
        "Training images must be a whole number from 1 to 60,000, not 0."
    ).wait_for(timeout=30_000)
    live(page).get_by_role("button", name="Start training").click()
    live(page).get_by_text("Nothing was started: Training images must be").wait_for(timeout=30_000)
    assert not (home / "versions").exists()

    # A short head-to-head run.
    live(page).get_by_role("radio", name="Both, one after the other").check(force=True)
    set_number(page, SUBSET, 500)
    set_number(page, EPOCHS, 2)
    live(page).get_by_text("the MLP first, then the ConvNet").wait_for(timeout=30_000)
    live(page).get_by_role("button", name="Start training").click()

    # Progress while it runs: the bar with elapsed time, and a way to cancel.
    live(page).locator('[data-testid="stProgress"]').wait_for(timeout=30_000)
    assert "elapsed" in live(page).locator('[data-testid="stProgress"]').inner_text()
    assert live(page).get_by_role("button", name="Start training").is_disabled()

    # The result: each network's accuracy on the 10,000 test images, as saved.
    live(page).get_by_text("Finished in").wait_for(timeout=180_000)
    live(page).get_by_text("ConvNet test accuracy (10,000 images)").wait_for(timeout=30_000)
    saved = {}
    for meta_file in sorted((home / "versions").glob("*.json")):
        meta = json.loads(meta_file.read_text())
        saved[meta["architecture"]] = (meta_file.stem, meta["test_accuracy"])
    assert set(saved) == {"mlp", "cnn"}
    for meta_file in (home / "versions").glob("*.json"):
        cfg = json.loads(meta_file.read_text())["train_config"]
        assert (cfg["subset"], cfg["epochs"]) == (500, 2)  # what was typed is what trained
    for arch, name in (("mlp", "MLP"), ("cnn", "ConvNet")):
        assert metric(page, f"{name} test accuracy (10,000 images)") == f"{saved[arch][1]:.2%}"
    assert live(page).locator('[data-testid="stVegaLiteChart"]').count() >= 2  # loss, accuracy

    # Another browser (a visitor) sees the same job.
    other = open_retrain(browser, url, presenter=False)
    live(other).get_by_text("Finished in").wait_for(timeout=30_000)
    assert metric(other, "MLP test accuracy") == f"{saved['mlp'][1]:.2%}"
    other.close()

    # Keep the new MLP: it becomes the active one, on disk for every process.
    live(page).get_by_role("button", name="Use this model").first.click()
    live(page).get_by_text("The MLP is now").wait_for(timeout=30_000)
    active = json.loads((home / "active.json").read_text())
    assert active == {"mlp": f"trained/{saved['mlp'][0]}"}
    live(page).get_by_role("button", name="Dismiss").click()
    live(page).get_by_text("Finished in").wait_for(state="detached", timeout=30_000)
    page.close()


def test_cancel_a_running_job(server):
    url, browser, home = server
    before = sorted(p.name for p in Path(home, "versions").glob("*"))
    page = open_retrain(browser, url)
    page.set_viewport_size({"width": 1280, "height": 800})  # a laptop: the form fills it
    live(page).get_by_role("radio", name="ConvNet").check(force=True)
    set_number(page, SUBSET, 20_000)
    set_number(page, EPOCHS, 5)
    settle(page)
    # The run's panel appears above the form; the browser keeps the clicked button in view
    # (scroll anchoring), so without help the progress is out of sight.
    live(page).get_by_role("button", name="Start training").click()
    live(page).get_by_text("ConvNet: epoch ").wait_for(timeout=60_000)
    # On Start the page brings the run's progress into view, where the user is looking.
    page.wait_for_timeout(1500)  # the smooth scroll
    bar = live(page).locator('[data-testid="stProgress"]').bounding_box()
    assert 0 <= bar["y"] and bar["y"] + bar["height"] <= 800
    # The line under the form follows the run (it used to say "waiting" for good).
    note = live(page).get_by_text("A run is in progress (above)")
    note.filter(has_text=re.compile(r"ConvNet epoch \d/5")).wait_for(timeout=60_000)
    live(page).get_by_role("button", name="Cancel training").click()
    live(page).get_by_text("Cancelled after").wait_for(timeout=30_000)
    assert sorted(p.name for p in Path(home, "versions").glob("*")) == before
    assert live(page).get_by_role("button", name="Start training").is_enabled()
    page.close()


def test_a_visitor_cannot_cancel_keep_or_delete_and_the_presenter_can(server):
    """Two browsers at once: the presenter starts a run; a visitor watches it, read-only,
    and a wrong passcode does not unlock; the presenter cancels it."""
    url, browser, home = server
    before = sorted(p.name for p in Path(home, "versions").glob("*"))
    presenter = open_retrain(browser, url)
    visitor = open_retrain(browser, url, presenter=False)
    live(visitor).get_by_text("You are watching: only the presenter can start").wait_for()
    assert live(visitor).get_by_role("button", name="Start training").is_disabled()

    live(presenter).get_by_role("radio", name="ConvNet").check(force=True)
    set_number(presenter, SUBSET, 20_000)
    set_number(presenter, EPOCHS, 5)
    live(presenter).get_by_role("button", name="Start training").click()
    live(presenter).get_by_text("ConvNet: epoch ").wait_for(timeout=60_000)

    # The visitor sees the run and who started it, and no way to stop it.
    live(visitor).get_by_text("ConvNet: epoch ").wait_for(timeout=30_000)
    live(visitor).get_by_text("Started by Test presenter.").wait_for(timeout=30_000)
    assert live(visitor).get_by_role("button", name="Cancel training").count() == 0
    assert live(visitor).get_by_role("button", name="Make active").is_disabled()
    assert visitor.get_by_test_id("stPopoverButton").filter(has_text="Delete").first.is_disabled()
    # A wrong passcode is refused and unlocks nothing.
    unlock(visitor, "not-the-passcode")
    visitor.get_by_text("That is not the presenter passcode").wait_for(timeout=30_000)
    visitor.keyboard.press("Escape")  # close the popover
    assert live(visitor).get_by_role("button", name="Cancel training").count() == 0

    live(presenter).get_by_role("button", name="Cancel training").click()
    live(presenter).get_by_text("Cancelled after").wait_for(timeout=30_000)
    live(visitor).get_by_text("Cancelled after").wait_for(timeout=30_000)
    assert live(visitor).get_by_role("button", name="Dismiss").count() == 0
    assert sorted(p.name for p in Path(home, "versions").glob("*")) == before
    live(presenter).get_by_role("button", name="Dismiss").click()
    presenter.close()
    visitor.close()
