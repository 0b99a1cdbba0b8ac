"""Shared helpers for the real-browser tests and benchmarks: a Streamlit server
on a free localhost port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Every frame, from the page's first: how each canvas is shown (its place and width on the
# screen, and whether the component's own toolbar is), kept in window.__canvasFrames when
# it changes. For Playwright's add_init_script.
CANVAS_FRAMES = """(() => {
  const frames = window.__canvasFrames = [];
  const look = () => {
    for (const h of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const c = h.shadowRoot && h.shadowRoot.querySelector("canvas.upper-canvas");
      if (!c) continue;
      const bar = h.shadowRoot.querySelector(".dc-toolbar");
      const r = c.getBoundingClientRect();
      const now = {top: Math.round(r.top), left: Math.round(r.left), width: Math.round(r.width),
                   toolbar: !!bar && getComputedStyle(bar).display !== "none"};
      const last = frames[frames.length - 1];
      if (!last || Object.keys(now).some((k) => last[k] !== now[k])) frames.push(now);
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();"""


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing, except in CI, where that fails."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -r requirements-dev.txt)"
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    app: str = "app.py", env: dict[str, str] | None = None, timeout: float = 90.0
) -> Iterator[str]:
    """`streamlit run app` on a free port; yields its base URL, stops it afterwards."""
    with streamlit_process(app, env, timeout) as (url, _):
        yield url


@contextlib.contextmanager
def streamlit_process(
    app: str = "app.py", env: dict[str, str] | None = None, timeout: float = 90.0, root: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like streamlit_server, run in the checkout `root`; yields (URL, server process)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        app,
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
    log = open(os.devnull, "wb") if not os.environ.get("BROWSER_TEST_LOG") else None
    proc = subprocess.Popen(
        cmd, cwd=root, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
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
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not None:
            log.close()


@contextlib.contextmanager
def launch_chromium():
    """A headless Chromium (Debian's) under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def touch_draw(ctx, page, box, strokes) -> None:
    """Draw strokes with a finger (touch events), as on a phone."""
    cdp = ctx.new_cdp_session(page)
    for stroke in strokes:
        events = [("touchStart", stroke[0])] + [("touchMove", p) for p in stroke[1:]]
        for kind, (x, y) in events:
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": [{"x": box["x"] + x, "y": box["y"] + y}]},
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def draw(page, canvas_box: dict, strokes, steps: int = 1) -> None:
    """Draw strokes (lists of (x, y) canvas pixels) with the mouse, as a person would."""
    for s in strokes:
        x0, y0 = canvas_box["x"], canvas_box["y"]
        page.mouse.move(x0 + float(s[0][0]), y0 + float(s[0][1]))
        page.mouse.down()
        for x, y in s[1:]:
            page.mouse.move(x0 + float(x), y0 + float(y), steps=steps)
        page.mouse.up()


@contextlib.contextmanager
def app_and_browser(home: Path) -> Iterator[tuple[str, object]]:
    """(url, browser): the whole app with its state in `home`, and a Chromium to visit it."""
    require_browser()
    with streamlit_server(env={"MNIST_APP_HOME": str(home)}) as url, launch_chromium() as browser:
        yield url, browser
