"""Two phones and a wall in a real browser: what the phones send appears on the wall."""

from __future__ import annotations

import pytest
from browser_utils import app_and_browser
from room_phones import WALL, Phone, digit_strokes

from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

pytestmark = pytest.mark.browser

WALL_TILES = """() => [...document.querySelectorAll('.tile')].map(t => ({
  id: +t.id.slice(5), label: t.dataset.label === '' ? null : +t.dataset.label,
  digits: [...t.querySelectorAll('.ta-digit')].map(d => +d.textContent),
  marks: [...t.querySelectorAll('.ta-mark')].map(d => d.textContent),
  foot: t.querySelector('.tile-foot').textContent,
  bold: t.querySelectorAll('.tile-foot b').length}))"""
SCORE = """(k) => { const c = document.querySelector('#score-' + k + ' .score-count');
  return c ? [+c.dataset.right, +c.dataset.labelled] : null; }"""


def test_drawings_from_two_phones_reach_the_wall(tmp_path) -> None:
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Browser test").code
    with app_and_browser(home) as (url, browser):
        wall = browser.new_context(**WALL).new_page()
        wall.goto(f"{url}/wall?room={code}")
        wall.locator("#wall-code").wait_for(timeout=90_000)
        assert wall.locator("#wall-code").text_content() == code
        assert f"/join?room={code}" in wall.locator("#wall-url").text_content()
        assert wall.locator("#wall-qr").evaluate("img => img.naturalWidth") > 100
        # The test server listens on 127.0.0.1: the wall says phones cannot reach it.
        wall.locator(
            '[data-testid="stCode"]', has_text="streamlit run app.py --server.address 0.0.0.0"
        ).wait_for()

        a = Phone(browser, url, code)
        b = Phone(browser, url, code, nickname="<b>Bo</b>")
        sent = []  # (label, mlp, cnn) as each phone showed it
        for phone, label, skip in ((a, 7, 0), (b, 3, 0), (a, 1, 2), (b, 4, 1)):
            phone.draw(digit_strokes(label, skip))
            mlp, cnn = phone.answers()
            phone.send(label)
            sent.append((label, mlp, cnn))
        # A paused room refuses the next drawing on the phone, with a clear message.
        store.set_state(code, "paused")
        a.draw(digit_strokes(2))
        a.answers()
        a.page.get_by_role("button", name="Send").tap()
        a.page.get_by_text("The presenter has paused this room").wait_for(timeout=30_000)
        store.set_state(code, "open")

        wall.wait_for_function(
            "() => document.getElementById('wall-stats')?.dataset.drawings === '4'", timeout=30_000
        )
        tiles = wall.evaluate(WALL_TILES)
        shown = sorted((t["label"], *t["digits"]) for t in tiles)
        assert shown == sorted(sent)
        for t in tiles:
            assert t["marks"] == ["✓" if d == t["label"] else "✗" for d in t["digits"]]
        # The nickname is shown as text, never as HTML.
        assert any("<b>Bo</b>" in t["foot"] for t in tiles)
        assert all(t["bold"] == 0 for t in tiles)
        for k, i in (("mlp", 1), ("cnn", 2)):
            right = sum(s[0] == s[i] for s in sent)
            assert wall.evaluate(SCORE, k) == [right, 4]
        assert wall.locator("#wall-stats").get_attribute("data-people") == "2"
        # The store holds exactly what the phones sent.
        stored = sorted(
            (d.label, d.answers["mlp"].digit, d.answers["cnn"].digit) for d in store.drawings(code)
        )
        assert stored == sorted(sent)
        a.close()
        b.close()
    store.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_and_wall_are_clean_and_accessible(tmp_path, scheme) -> None:
    """No console error, failed request or serious axe-core finding on either page."""
    from test_browser_pages import Watch, axe_findings

    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Accessibility").code
    with app_and_browser(home) as (url, browser):
        phone = Phone(browser, url, code)
        phone.page.emulate_media(color_scheme=scheme)
        watch_phone = Watch(phone.page)
        phone.draw(digit_strokes(3))
        phone.answers()
        phone.send(3)
        # One that stumps both, so the ✗ marks and the highlights are checked too.
        wrong = tuple(0.91 if d == 8 else 0.01 for d in range(10))
        store.add_drawing(
            code,
            "other",
            bytes(range(256)) * 3 + bytes(16),
            "[[[1,2],[3,4]]]",
            {"mlp": rules.Answer(wrong, "shipped/mlp"), "cnn": rules.Answer(wrong, "shipped/cnn")},
            label=5,
            nickname="Zoë",
        )
        wall_ctx = browser.new_context(**WALL, color_scheme=scheme)
        wall = wall_ctx.new_page()
        watch_wall = Watch(wall)
        wall.goto(f"{url}/wall?room={code}")
        wall.locator(".ta-wrong").first.wait_for(timeout=90_000)
        wall.locator(".hl-read").first.wait_for(timeout=30_000)
        wall.wait_for_timeout(1500)
        for page, watch in ((phone.page, watch_phone), (wall, watch_wall)):
            assert not watch.problems
            assert not axe_findings(page)
            assert page.locator('[data-testid="stException"]').count() == 0
        phone.close()
        wall_ctx.close()
    store.close()


def test_presenter_unlocks_pauses_and_exports_a_room(tmp_path) -> None:
    """A visitor's wall has no controls; the presenter unlocks, pauses and downloads the zip."""
    import io
    import zipfile

    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Presenter").code
    probs = tuple(0.91 if d == 2 else 0.01 for d in range(10))
    store.add_drawing(
        code,
        "p",
        bytes(784),
        "[[[1,2],[3,4]]]",
        {"mlp": rules.Answer(probs, "shipped/mlp"), "cnn": rules.Answer(probs, "shipped/cnn")},
        label=2,
    )
    from browser_utils import launch_chromium, require_browser, streamlit_server

    require_browser()
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": "room-pass-123"}
    with streamlit_server(env=env) as url, launch_chromium() as browser:
        visitor = browser.new_context(**WALL).new_page()
        visitor.goto(f"{url}/wall?room={code}")
        visitor.locator(".tile").first.wait_for(timeout=90_000)
        assert visitor.get_by_text("Room controls").count() == 0
        page = browser.new_context(**WALL, accept_downloads=True).new_page()
        page.goto(f"{url}/wall?room={code}")
        page.locator(".tile").first.wait_for(timeout=90_000)
        page.get_by_role("button", name="Presenter").click()
        page.get_by_label("Passcode").fill("room-pass-123")
        page.get_by_role("button", name="Unlock").click()
        page.get_by_text("Room controls").wait_for()
        page.keyboard.press("Escape")  # close the presenter popover
        page.get_by_text("Room controls").click()
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name="Export the room (zip)").click()
        with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as z:
            assert set(z.namelist()) == {"room.npz", "room.json"}
        page.get_by_role("button", name="Pause sending").click()
        page.get_by_role("button", name="Open for sending").wait_for(timeout=30_000)
        assert store.get_room(code).state == "paused"
    store.close()
