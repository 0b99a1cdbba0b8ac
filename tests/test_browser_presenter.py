"""Presenter rights in a real browser: an unlock kept in the presenter's browser outlasts
reloads, room switches and a restart of the server, and ends on Lock or a new passcode;
local single-user mode is for this machine's own browser, not a page that rebinds its
name to 127.0.0.1; bad passcode settings leave the pages working, with one sentence."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import browser_utils
import pytest
from browser_utils import CHROMIUM, CHROMIUM_ARGS, ROOT, require_browser, streamlit_process
from room_phones import WALL
from test_browser_pages import Watch

from mnist_models.rooms import store as room_store

pytestmark = pytest.mark.browser
PASSCODE = "presenter-pass-1"
NAME = "Test presenter"
UNLOCKED = f"Presenter: {NAME}"
LOCKED_CAPTION = "The presenter opens, pauses and closes rooms and hides drawings, after unlocking."


def presenter_button(page):
    return page.get_by_test_id("stPopoverButton").filter(has_text="Presenter")


def controls(page):
    """What only the presenter gets: a room's controls on its panel, or (the lobby) the
    button that opens a room."""
    return page.get_by_role("button", name="Export the room (zip)").or_(
        page.get_by_role("button", name="Open a new room")
    )


def wait_unlocked(page, name: str = NAME, timeout: int = 90_000) -> None:
    presenter_button(page).filter(has_text=f"Presenter: {name}").wait_for(timeout=timeout)
    controls(page).first.wait_for(timeout=30_000)


def wait_locked(page, timeout: int = 90_000) -> None:
    page.get_by_text(LOCKED_CAPTION).wait_for(timeout=timeout)
    assert presenter_button(page).filter(has_text="Presenter:").count() == 0
    assert controls(page).count() == 0


def kept(ctx) -> list[dict]:
    """The presenter cookies this browser context holds."""
    return [c for c in ctx.cookies() if c["name"].startswith("mnist_presenter_")]


def wait_kept(ctx, present: bool, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while bool(kept(ctx)) != present:
        if time.monotonic() > deadline:
            raise AssertionError(f"presenter cookie {'never came' if present else 'stayed'}")
        time.sleep(0.2)
    return kept(ctx)


def unlock(page, passcode: str = PASSCODE) -> None:
    """Open the Presenter control and type the passcode and a name, as the presenter would."""
    presenter_button(page).click()
    page.get_by_label("Passcode").fill(passcode)
    page.get_by_label("Your name, shown to the room (optional)").fill(NAME)
    page.get_by_role("button", name="Unlock").click()
    wait_unlocked(page)
    page.keyboard.press("Escape")  # close the popover


def test_an_unlock_outlasts_reloads_rooms_and_a_restart_until_locked(tmp_path, monkeypatch):
    require_browser()
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    one, two = store.create_room("One").code, store.create_room("Two").code
    store.close()
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    port = browser_utils.free_port()
    monkeypatch.setattr(browser_utils, "free_port", lambda: port)  # a restart keeps the port
    with browser_utils.launch_chromium() as browser:
        ctx = browser.new_context(**WALL)
        page = ctx.new_page()
        watch = Watch(page)
        with streamlit_process(env=env) as (url, _):
            page.goto(f"{url}/wall?room={one}&view=presenter")  # the presenter's panel
            wait_locked(page)
            unlock(page)
            (cookie,) = wait_kept(ctx, True)
            assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
            assert 11.9 * 3600 < cookie["expires"] - time.time() <= 12 * 3600
            # The token is in the browser's cookie jar only: not in the page, not in its URL.
            assert cookie["value"] not in page.content() and "mnist_presenter" not in page.url
            page.reload()
            wait_unlocked(page)
            page.goto(f"{url}/wall?room={two}&view=presenter")  # another room, by its URL
            wait_unlocked(page)
            # A visitor with a copy of the wall's URL is a visitor.
            visitor_ctx = browser.new_context(**WALL)
            visitor = visitor_ctx.new_page()
            visitor.goto(page.url)
            wait_locked(visitor)
            assert kept(visitor_ctx) == []
            visitor_ctx.close()
            assert not watch.problems  # the browser store's script: no error, no warning
        # A restart of the server on the same home and port.
        with streamlit_process(env=env) as (again, _):
            assert again == url
            page.reload()
            wait_unlocked(page)
            presenter_button(page).filter(has_text=UNLOCKED).click()
            page.get_by_role("button", name="Lock").click()
            wait_locked(page)
            wait_kept(ctx, False)
            page.reload()
            wait_locked(page)
            unlock(page)
            wait_kept(ctx, True)
        # A new passcode ends every unlock kept in a browser; the stale copy is removed.
        with streamlit_process(env={**env, "MNIST_PRESENTER_PASSCODE": "another-pass"}):
            page.reload()
            wait_locked(page)
            wait_kept(ctx, False)
        ctx.close()


def test_local_mode_is_for_this_machines_browser_not_a_rebound_name(tmp_path):
    """A page on rebind.example, whose name now points at 127.0.0.1, reaches the server
    (the browser sends Host: rebind.example) and gets no presenter rights."""
    require_browser()
    from playwright.sync_api import sync_playwright

    env = {"MNIST_APP_HOME": str(tmp_path / "home"), "MNIST_LOCAL_MODE": "1"}
    with streamlit_process(env=env) as (url, _), sync_playwright() as p:
        port = url.rsplit(":", 1)[1]
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.example 127.0.0.1"],
        )
        try:
            own = browser.new_page()
            own.goto(f"http://localhost:{port}/wall")
            wait_unlocked(own, name="the presenter")
            rebound = browser.new_page()
            rebound.goto(f"http://rebind.example:{port}/wall")
            wait_locked(rebound)
            presenter_button(rebound).click()
            rebound.get_by_text("Local single-user mode covers this machine's own").wait_for()
            # Through a proxy (a forwarded header): no local mode either.
            proxied_ctx = browser.new_context(extra_http_headers={"X-Forwarded-For": "10.9.9.9"})
            proxied = proxied_ctx.new_page()
            proxied.goto(f"http://localhost:{port}/wall")
            wait_locked(proxied)
        finally:
            browser.close()


def launcher(env: dict[str, str]) -> tuple[subprocess.Popen, str, str]:
    """scripts/serve.py on a free port; (process, URL, what it printed until it listened)."""
    port = browser_utils.free_port()
    proc = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--server.headless", "true"]
        + ["--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said = []
    deadline = time.monotonic() + 90
    while not any("URL:" in line for line in said):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("the server stopped: " + "".join(said))
        said.append(line)
        assert time.monotonic() < deadline, "no URL printed: " + "".join(said)
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as r:
        assert r.status == 200
    return proc, url, "".join(said)


def test_a_bad_passcode_is_one_sentence_at_start_and_on_the_page(tmp_path):
    """MNIST_PRESENTER_PASSCODE=abc: the terminal says why as the server starts; the pages
    work for visitors, and the Presenter control says it."""
    require_browser()
    sentence = (
        "Presenter rights are off: the presenter passcode (MNIST_PRESENTER_PASSCODE) has 3 "
        "characters and needs at least 6; fix it and restart the server."
    )
    env = {"MNIST_APP_HOME": str(tmp_path / "home"), "MNIST_PRESENTER_PASSCODE": "abc"}
    proc, url, said = launcher(env)
    try:
        assert said.index(sentence) < said.index("URL:")
        with browser_utils.launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/retrain")
            page.get_by_text("Retrain the networks").wait_for(timeout=90_000)
            page.get_by_role("button", name="Presenter rights off").click()
            page.get_by_text(sentence).wait_for()
            page.goto(url)
            page.get_by_text("Nothing to read yet").wait_for(timeout=90_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert not re.search("encountered an error", page.content())
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert sentence not in out  # printed once, at the start, not again at the first page
