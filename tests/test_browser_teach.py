"""Teaching a room's handwriting in a real browser: from the room's labelled drawings the
presenter fine-tunes both networks, sees before and after, puts them in use; the wall
shows the result."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_utils import launch_chromium, require_browser, streamlit_server
from test_browser_retrain import PASSCODE, live, open_retrain, settle

from mnist_models import data as mdata
from mnist_models.nets import registry
from mnist_models.rooms import rules
from mnist_models.rooms.store import open_store

pytestmark = pytest.mark.browser


def slanted(img: np.ndarray) -> np.ndarray:
    out = np.zeros_like(img)
    for r in range(28):
        out[r] = np.roll(img[r], (14 - r) // 2)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A room of 8 people's labelled drawings in a private app home, then the app."""
    require_browser()
    home = tmp_path_factory.mktemp("app-home")
    test = mdata.load_split("test")
    store = open_store(home / "rooms.sqlite3")
    code = store.create_room("Lecture").code
    answers = {"mlp": rules.Answer(tuple([0.1] * 10), "shipped/mlp")}
    ds = [
        rules.Drawing(
            0,
            code,
            time.time(),
            f"p{i % 8}",
            None,
            "[[[10,10],[60,80]]]",
            slanted(test.images[9000 + i].numpy()).tobytes(),
            int(test.labels[9000 + i]),
            answers,
        )
        for i in range(96)
    ]
    store.import_drawings(code, ds)
    store.close()
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    with streamlit_server("app.py", env=env) as url, launch_chromium() as browser:
        yield url, browser, home, code


@pytest.mark.slow  # trains both networks
def test_the_presenter_teaches_both_networks_and_the_wall_shows_it(server, monkeypatch) -> None:
    url, browser, home, code = server
    page = open_retrain(browser, url)
    section = live(page).get_by_text("Teach the room's handwriting")
    section.scroll_into_view_if_needed()
    live(page).get_by_text("6 people teach, 2 others are held out").wait_for()
    live(page).get_by_role("button", name="Start teaching").click()
    use = live(page).get_by_role("button", name="Put both new versions in use")
    try:
        use.wait_for(timeout=1_100_000)  # both networks trained (minutes on a busy machine)
    except Exception:
        raise AssertionError(page.locator("body").inner_text()) from None
    live(page).get_by_text(f"Taught room {rules.shown_code(code)}").first.wait_for()
    live(page).get_by_text("Finished in").wait_for()  # the job panel's, as for every run
    settle(page)
    for name in ("MLP", "ConvNet"):
        live(page).get_by_text(f"{name} on the room's held-out people").first.wait_for()
        live(page).get_by_text(f"{name} on MNIST test (10,000 images)").first.wait_for()
    use.click()
    live(page).get_by_text("In use now").wait_for(timeout=60_000)
    monkeypatch.setenv("MNIST_APP_HOME", str(home))
    for arch in ("mlp", "cnn"):
        assert registry.active_id(arch).startswith("trained/")
    wall = browser.new_page(viewport={"width": 1920, "height": 1080})
    wall.goto(f"{url}/wall?room={code}")
    wall.locator("#wall-taught").wait_for(timeout=60_000)
    text = wall.locator("#wall-taught").inner_text()
    assert "Taught your handwriting" in text and "MLP" in text and "ConvNet" in text
