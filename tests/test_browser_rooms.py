"""Phones, walls and the presenter's panel in a real browser (Chromium contexts): what the
phones send reaches every wall; a phone is one participant across reloads and a restart of
the server; limits hold for fresh sessions; hiding reaches every wall; phones follow the
room; the pages fit their screens."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_utils import (
    app_and_browser,
    free_port,
    launch_chromium,
    require_browser,
    streamlit_server,
)
from room_phones import (
    TEXT_SIZES,
    WALL,
    Phone,
    digit_strokes,
    out_of_view,
    server_on,
    unlock,
)

from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

pytestmark = pytest.mark.browser

PASSCODE = "room-pass-123"
WALL_TILES = """() => [...document.querySelectorAll('.tile')].map(t => ({
  id: +t.id.slice(5), label: t.dataset.label === '' ? null : +t.dataset.label,
  digits: [...t.querySelectorAll('.ta-digit')].map(d => +d.textContent),
  marks: [...t.querySelectorAll('.ta-mark')].map(d => d.textContent),
  foot: t.querySelector('.tile-foot').textContent,
  bold: t.querySelectorAll('.tile-foot b').length}))"""
SCORE = """(k) => { const c = document.querySelector('#score-' + k + ' .score-count');
  return c ? [+c.dataset.right, +c.dataset.labelled] : null; }"""
TILE_IDS = "() => [...document.querySelectorAll('.tile')].map(t => +t.id.slice(5))"


def probs(digit: int) -> tuple[float, ...]:
    return tuple(0.91 if d == digit else 0.01 for d in range(10))


def add(store, code: str, i: int, label: int | None, mlp: int, cnn: int, **kw) -> rules.Drawing:
    img = (np.random.default_rng(i).random((28, 28)) > 0.8).astype(np.uint8) * 255
    return store.add_drawing(
        code,
        f"p{i}",
        img.tobytes(),
        "[[[1,2],[3,4]]]",
        {"mlp": rules.Answer(probs(mlp), "shipped/mlp"), "cnn": rules.Answer(probs(cnn), "s/c")},
        label=label,
        **kw,
    )


def test_drawings_from_two_phones_reach_the_wall(tmp_path) -> None:
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Browser test").code
    with app_and_browser(home) as (url, browser):
        wall = browser.new_context(**WALL).new_page()
        wall.goto(f"{url}/wall?room={code}")
        wall.locator("#wall-code").wait_for(timeout=90_000)
        assert wall.locator("#wall-code").text_content() == rules.shown_code(code)
        assert f"/join?room={code}" in wall.locator("#wall-url").text_content()
        assert wall.locator("#wall-qr").evaluate("img => img.naturalWidth") > 100
        # The audience view: no controls, no setup warning (they are on the panel).
        assert wall.locator("button:visible").count() == 0
        assert wall.locator('[data-testid="stCode"]').count() == 0

        a = Phone(browser, url, code, watch_canvas=True)
        b = Phone(browser, url, code, nickname="<b>Bo</b>")
        sent = []  # (label, mlp, cnn) as each phone showed it
        for phone, label, skip in ((a, 7, 0), (b, 3, 0), (a, 1, 2), (b, 4, 1)):
            phone.draw(digit_strokes(label, skip))
            mlp, cnn = phone.answers()
            phone.send(label)
            sent.append((label, mlp, cnn))
        # A paused room refuses the next drawing on the phone, with a clear message.
        store.set_state(code, "paused")
        a.page.get_by_text("Paused by the presenter").wait_for(timeout=10_000)
        a.draw(digit_strokes(2))
        a.answers()
        a.page.get_by_role("button", name="Send").tap()
        a.page.get_by_text("The presenter has paused this room").wait_for(timeout=30_000)
        store.set_state(code, "open")
        # Each fresh canvas (the first, and one after every Send) was shown at its size on
        # the phone and without the component's toolbar from its first frame: a finger
        # put down at once draws, and lands where the canvas is.
        frames = a.canvas_frames()
        width = round(a.page.locator("canvas").last.bounding_box()["width"])
        assert width < 390 and frames
        assert [f for f in frames if f["width"] and (f["width"] != width or f["toolbar"])] == []

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
        stored = sorted(
            (d.label, d.answers["mlp"].digit, d.answers["cnn"].digit) for d in store.drawings(code)
        )
        assert stored == sorted(sent)
        a.close()
        b.close()
    store.close()


def test_a_phone_is_one_participant_with_its_name_across_reloads_and_a_restart(
    tmp_path,
) -> None:
    """Reload, send again, restart the server: one participant, its name kept; a drawing
    not sent when the page went away is offered again."""
    require_browser()
    from playwright.sync_api import expect

    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("One person").code
    port = free_port()
    env = {"MNIST_APP_HOME": str(home)}
    with launch_chromium() as browser:
        with server_on(port, env) as url:
            phone = Phone(browser, url, code, nickname="Ann")
            phone.draw(digit_strokes(3))
            phone.answers()
            phone.send(3)
            phone.page.reload()
            phone.page.locator("#verdict").wait_for(timeout=60_000)
            name = phone.page.get_by_label("Your name on the wall (optional)")
            expect(name).to_have_value("Ann", timeout=10_000)
            phone.draw(digit_strokes(4))
            phone.answers()
            phone.send(4)
            assert store.participants(code) == 1
            # Drawn, not sent: a reload gives it back, answers and all.
            phone.draw(digit_strokes(5))
            before = phone.answers()
            phone.page.reload()
            phone.page.get_by_text("Your drawing from before the connection dropped").wait_for(
                timeout=60_000
            )
            assert phone.answers() == before
            phone.page.wait_for_timeout(500)  # the kept drawing is saved again
        # The server goes away with the drawing still unsent, and comes back.
        with server_on(port, env):
            phone.page.get_by_text("Your drawing from before the connection dropped").wait_for(
                timeout=90_000
            )
            assert phone.answers() == before
            phone.send(5)
            assert store.participants(code) == 1
            assert [(d.label, d.nickname) for d in store.drawings(code)] == [
                (3, "Ann"),
                (4, "Ann"),
                (5, "Ann"),
            ]
            assert len({d.participant for d in store.drawings(code)}) == 1
            # A new browser is a new person.
            other = Phone(browser, url, code)
            assert store.participants(code) == 2
            other.close()
            phone.close()
    store.close()


def test_fresh_sessions_from_one_address_are_held_to_the_rate_limit(tmp_path) -> None:
    """A new browser context per drawing (no kept id: a new participant each time), all
    sending at once from one address: one drawing a second gets through."""
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Limits").code
    with app_and_browser(home) as (url, browser):
        phones = [Phone(browser, url, code) for _ in range(4)]
        for i, p in enumerate(phones):
            p.draw(digit_strokes(i + 1))
            p.answers()
        t0 = time.monotonic()
        for p in phones:  # as fast as taps go
            p.page.get_by_role("button", name="Send").tap(no_wait_after=True)
        for p in phones:
            p.page.get_by_text("to the wall").or_(p.page.get_by_text("too fast")).wait_for(
                timeout=30_000
            )
        elapsed = time.monotonic() - t0
        got = len(store.drawings(code))
        assert 1 <= got <= 1 + int(elapsed / rules.MIN_INTERVAL)
        refused = sum(p.page.get_by_text("coming too fast").count() for p in phones)
        assert got + refused == 4 and refused >= 1
        for p in phones:
            p.close()
    store.close()


def test_the_presenter_hides_from_a_tile_and_every_wall_follows(tmp_path) -> None:
    """Hide on the presenter's panel: both open walls drop the tile by themselves, and show
    it again after Show again (each wall reads every WALL_REFRESH_S: within 2 s)."""
    require_browser()
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Moderation").code
    ids = [add(store, code, i, i % 10, i % 10, i % 10).id for i in range(5)]
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    assert rules.WALL_REFRESH_S <= 2.0
    with streamlit_server(env=env) as url, launch_chromium() as browser:
        walls = []
        for _ in range(2):
            w = browser.new_context(**WALL).new_page()
            w.goto(f"{url}/wall?room={code}")
            w.locator(f"#tile-{ids[2]}").wait_for(timeout=90_000)
            w.evaluate(STAY)
            walls.append(w)
        panel = browser.new_context(**WALL).new_page()
        panel.goto(f"{url}/wall?room={code}&view=presenter")
        panel.get_by_test_id("stPopoverButton").first.wait_for(timeout=90_000)
        assert panel.get_by_role("button", name=f"Hide #{ids[2]}").count() == 0  # locked
        unlock(panel, PASSCODE)
        # A drawing that arrives now is on the panel's list by itself (its part rereads every
        # WALL_REFRESH_S), not at the next full run, which nothing here causes.
        late = add(store, code, 9, 9, 9, 9).id
        panel.get_by_role("button", name=f"Hide #{late}").wait_for(timeout=30_000)
        panel.get_by_role("button", name=f"Hide #{ids[2]}").click()
        t = time.monotonic()
        for w in walls:
            w.locator(f"#tile-{ids[2]}").wait_for(state="detached", timeout=30_000)
        took = [time.monotonic() - t]
        for w in walls:
            assert w.locator("#wall-stats").get_attribute("data-drawings") == "5"
        panel.get_by_role("button", name=f"Show #{ids[2]} again").click()
        t = time.monotonic()
        for w in walls:
            w.locator(f"#tile-{ids[2]}").wait_for(timeout=30_000)
        took.append(time.monotonic() - t)
        assert [d.hidden for d in store.drawings(code, include_hidden=True)] == [False] * 6
        # The walls followed by themselves: neither was reloaded.
        assert all(w.evaluate("() => window.__stayed === true") for w in walls)
        print(f"hidden on both walls after {took[0]:.1f} s, shown again after {took[1]:.1f} s")
    store.close()


# Marks a page, so that a check can tell it was not reloaded (a reload forgets the mark).
STAY = "() => { window.__stayed = true; }"


def test_idle_phones_show_pause_and_close_by_themselves(tmp_path) -> None:
    """The presenter pauses, opens again and closes the room on the panel: idle phones (no
    tap, no reload) show each within 3 s (each looks every PHONE_FOLLOW_S at a room state
    at most ROOM_TTL_S old)."""
    require_browser()
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Follow").code
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    assert rules.PHONE_FOLLOW_S + rules.ROOM_TTL_S <= 3.0
    head = "() => document.getElementById('room-head')?.dataset.state"
    with streamlit_server(env=env) as url, launch_chromium() as browser:
        phones = [Phone(browser, url, code) for _ in range(2)]
        for p in phones:
            assert p.page.evaluate(head) == "open"
            p.page.evaluate(STAY)
        panel = browser.new_context(**WALL).new_page()
        panel.goto(f"{url}/wall?room={code}&view=presenter")
        panel.get_by_test_id("stPopoverButton").first.wait_for(timeout=90_000)
        unlock(panel, PASSCODE)
        took = {}
        for button, then, state in (
            ("Pause sending", "Open for sending", "paused"),
            ("Open for sending", "Pause sending", "open"),
            ("Close the room", "Open for sending", "closed"),
        ):
            panel.get_by_role("button", name=button).click()
            panel.get_by_role("button", name=then).wait_for(timeout=30_000)
            t = time.monotonic()
            assert store.get_room(code).state == state
            for p in phones:
                p.page.wait_for_function(f"() => ({head})() === '{state}'", timeout=30_000)
            took[state] = time.monotonic() - t
            if state == "paused":  # in words, too
                for p in phones:
                    p.page.get_by_text("Paused by the presenter").wait_for(timeout=5_000)
        for p in phones:
            p.page.get_by_text("Paused by the presenter").wait_for(state="detached")
            p.page.get_by_text("This room is closed").wait_for(timeout=30_000)
            assert p.page.evaluate("() => window.__stayed === true")  # never reloaded
            p.close()
        print("idle phones followed: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
    store.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_phone_page_fits_a_phone_and_the_wall_a_projector(tmp_path, scheme) -> None:
    """After drawing, both answers, the ten label buttons and Send are in view at 390x844
    and 360x740, and with the canvas beside them on a phone turned sideways (844x390,
    740x360; the canvas was cut off by the window's bottom edge); at 1920x1080 every
    tile is on screen and no text on the wall is under 24 px, with a busy room
    (four-digit counts, ties, a drawing that is not a digit)."""
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("A room with a rather long title for its wall").code
    drawings = [
        rules.Drawing(
            0,
            "",
            1000.0 + i,
            f"p{i % 40}",
            f"Person {i} with a long name"[:24],
            "[[[1,2]]]",
            bytes([(i * 7) % 256]) * 784,
            i % 10,
            {
                "mlp": rules.Answer(probs((i % 10 + (i % 4 == 1)) % 10), "m"),
                "cnn": rules.Answer(probs((i % 10 + (i % 3 == 0)) % 10), "c"),
            },
            not_digit=i % 50 == 49,
        )
        for i in range(2400)
    ]
    store.import_drawings(code, drawings)
    with app_and_browser(home) as (url, browser):
        for w, h in ((390, 844), (360, 740), (844, 390), (740, 360)):
            size = {"width": w, "height": h}
            phone = Phone(browser, url, code, viewport=size, color_scheme=scheme)
            phone.page.locator("canvas").last.wait_for(timeout=90_000)
            phone.page.wait_for_timeout(300)
            assert not out_of_view(phone.page, ".digit-canvas-host"), size
            phone.draw(digit_strokes(3))
            phone.answers()
            phone.page.wait_for_timeout(300)
            for what in ("#answer-mlp", "#answer-cnn", '[class*="st-key-room-labels"] button'):
                assert not out_of_view(phone.page, what), (size, what)
            assert not out_of_view(phone.page, '[class*="st-key-room-send"] button'), size
            assert phone.page.locator('[class*="st-key-room-labels"] button').count() == 10
            phone.close()
        wall = browser.new_context(**WALL, color_scheme=scheme).new_page()
        wall.goto(f"{url}/wall?room={code}")
        wall.locator(".tile").first.wait_for(timeout=90_000)
        wall.wait_for_timeout(1500)
        assert wall.locator(".tile").count() == 12
        assert not out_of_view(wall, ".tile")
        assert not out_of_view(wall, ".score-net")
        small = [(t, size) for t, size in wall.evaluate(TEXT_SIZES) if size < 24]
        assert not small
        # Four-digit counts stay on one line; the not-digits are counted apart.
        one_line = wall.evaluate(
            "() => [...document.querySelectorAll('.score-digits span')]"
            ".every(s => s.getClientRects().length === 1 && s.offsetHeight < 40)"
        )
        assert one_line
        assert wall.locator("#wall-stats").get_attribute("data-not-digits") == "48"
        assert wall.locator(".tile-odd").count() == 1  # #2400, of the newest twelve
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
        # One that stumps both, one that is not a digit, so every mark is checked too.
        add(store, code, 1, 5, 8, 8, nickname="Zoë")
        add(store, code, 2, None, 1, 7, not_digit=True)
        wall_ctx = browser.new_context(**WALL, color_scheme=scheme)
        wall = wall_ctx.new_page()
        watch_wall = Watch(wall)
        wall.goto(f"{url}/wall?room={code}")
        wall.locator(".ta-wrong").first.wait_for(timeout=90_000)
        wall.locator(".hl-read").first.wait_for(timeout=30_000)
        wall.locator(".tile-odd").first.wait_for(timeout=30_000)
        wall.wait_for_timeout(1500)
        for page, watch in ((phone.page, watch_phone), (wall, watch_wall)):
            assert not watch.problems
            assert not axe_findings(page)
            assert page.locator('[data-testid="stException"]').count() == 0
        phone.close()
        wall_ctx.close()
    store.close()


def test_presenter_unlocks_pauses_and_exports_a_room(tmp_path) -> None:
    """The presenter's panel: locked for a visitor; unlocked, it pauses and downloads the zip."""
    import io
    import zipfile

    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Presenter").code
    add(store, code, 0, 2, 2, 2)
    require_browser()
    env = {"MNIST_APP_HOME": str(home), "MNIST_PRESENTER_PASSCODE": PASSCODE}
    with streamlit_server(env=env) as url, launch_chromium() as browser:
        visitor = browser.new_context(**WALL).new_page()
        visitor.goto(f"{url}/wall?room={code}&view=presenter")
        visitor.get_by_text("after unlocking").wait_for(timeout=90_000)
        assert visitor.get_by_role("button", name="Pause sending").count() == 0
        page = browser.new_context(**WALL, accept_downloads=True).new_page()
        page.goto(f"{url}/wall?room={code}&view=presenter")
        page.get_by_text("after unlocking").wait_for(timeout=90_000)
        unlock(page, PASSCODE)
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name="Export the room (zip)").click()
        with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as z:
            assert set(z.namelist()) == {"room.npz", "room.json"}
        page.get_by_role("button", name="Pause sending").click()
        page.get_by_role("button", name="Open for sending").wait_for(timeout=30_000)
        assert store.get_room(code).state == "paused"
        # The setup command for phones is on the panel, as the README gives it.
        page.locator('[data-testid="stCode"]', has_text=".venv/bin/streamlit run app.py").wait_for()
    store.close()


def test_phone_page_uses_the_canvas_for_a_laptop_too(tmp_path) -> None:
    """On a laptop screen the phone page still draws, answers and sends."""
    home = tmp_path / "home"
    store = room_store.open_store(home / "rooms.sqlite3")
    code = store.create_room("Laptop").code
    with app_and_browser(home) as (url, browser):
        phone = Phone(browser, url, code, viewport={"width": 1280, "height": 800})
        phone.draw(digit_strokes(7))
        phone.answers()
        phone.send(7)
        assert [d.label for d in store.drawings(code)] == [7]
        phone.close()
    store.close()
