"""The phone and wall pages under AppTest: codes, room states, presenter controls."""

from __future__ import annotations

import html
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from helpers import fabric, html_of, one_flag_doodle
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.state.common import unpack_widget_state_value
from streamlit.testing.v1 import AppTest

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.reading import canvas
from mnist_models.rooms import join as room_join
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

ROOT = Path(__file__).resolve().parent.parent
PHONE = str(ROOT / "app_pages" / "room_phone.py")
WALL = str(ROOT / "app_pages" / "room_wall.py")


PASSCODE = "room-test-passcode"


@pytest.fixture()
def store(tmp_path, monkeypatch):
    from app_pages import presenter_ui

    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    monkeypatch.setenv("MNIST_PRESENTER_PASSCODE", PASSCODE)
    monkeypatch.delenv(room_join.PUBLIC_URL_ENV, raising=False)
    presenter_ui.gate.clear()  # a fresh gate that reads this passcode
    s = room_store.open_store()
    yield s
    s.close()
    presenter_ui.gate.clear()


def unlock(at: AppTest) -> AppTest:
    """Unlock the presenter's controls with the passcode, as the presenter would."""
    at.text_input(key="wall-presenter-code").input(PASSCODE)
    return next(b for b in at.button if b.label == "Unlock").click().run()


def page(path: str, room: str | None = None) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    if room is not None:
        at.query_params["room"] = room
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def test_phone_joins_an_open_room_and_counts_the_participant(store) -> None:
    code = store.create_room("Year 10").code
    at = page(PHONE, code.lower())
    assert not at.exception and not at.error
    assert f"Room <code>{rules.shown_code(code)}</code> · Year 10" in html_of(at)
    assert [b.label for b in at.button] == ["Send"] and at.button[0].disabled
    assert store.participants(code) == 1
    at.run()  # a rerun of the same session is not a second participant
    assert store.participants(code) == 1


@pytest.mark.parametrize(
    "code, message",
    [
        ("QQQQ", "There is no room QQQQ"),
        ("<img src=x>", "is not a room code"),
        (None, None),
    ],
)
def test_phone_with_a_wrong_or_missing_code_asks_for_one(store, code, message) -> None:
    at = page(PHONE, code)
    assert not at.exception
    assert at.text_input[0].label == "Room code (on the wall)"
    if message:
        assert any(message in e for e in texts(at, "error"))
    assert "<img" not in html_of(at)


def test_wrong_codes_typed_on_the_phone_are_throttled(store) -> None:
    room = store.create_room()
    at = page(PHONE)
    for i in range(rules.MAX_WRONG_CODES):
        at.text_input[0].input("ACDEF" + rules.CODE_LETTERS[i])
        at.button[0].click().run()
    assert any("There is no room" in e for e in texts(at, "error"))
    at.text_input[0].input(room.code)
    at.button[0].click().run()
    assert not at.exception
    assert any("Too many wrong room codes" in e for e in texts(at, "error"))
    assert not any(b.label == "Send" for b in at.button)
    wall = page(WALL, room.code)  # the wall's ?room= is the same door
    assert any("Too many wrong room codes" in e for e in texts(wall, "error"))


def test_a_phone_is_one_participant_and_an_address_makes_few_new_ones(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    monkeypatch.setenv(rules.NEW_PER_MINUTE_ENV, "2")
    s = room_store.open_store()
    code = s.create_room().code
    first = page(PHONE, code)
    first.run()  # a rerun of one session is the same participant
    assert s.participants(code) == 1
    page(PHONE, code)  # a session with no kept id: a new participant, from the same address
    assert s.participants(code) == 2
    third = page(PHONE, code)
    assert not third.exception
    assert any("Too many new people" in e for e in texts(third, "error"))
    assert not any(b.label == "Send" for b in third.button)
    assert s.participants(code) == 2
    s.close()


def test_phone_in_a_closed_room_says_so_and_a_paused_one_warns(store) -> None:
    code = store.create_room().code
    store.set_state(code, "closed")
    at = page(PHONE, code)
    assert not at.exception and any("This room is closed" in i for i in texts(at, "info"))
    assert not any(b.label == "Send" for b in at.button)
    store.set_state(code, "paused")
    at = page(PHONE, code)
    assert 'data-state="paused"' in html_of(at) and "Paused by the presenter" in html_of(at)


def test_phone_headline_follows_the_same_rule_as_the_drawing_page(store) -> None:
    """A doodle one network flags gets "Not sure", never a confident line (reading.headline)."""
    code = store.create_room().code
    page(PHONE, code)  # registers the canvas component, so that it can be patched
    strokes, flagger = one_flag_doodle()
    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=fabric(strokes)))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = page(PHONE, code)
    assert not at.exception
    html = html_of(at)
    assert 'class="verdict verdict-mixed"' in html and "Not sure: " in html
    assert f"the {flagger} reads " in html and "Both networks read" not in html


def test_wall_shows_code_qr_url_and_escaped_drawings(store, monkeypatch) -> None:
    monkeypatch.setenv(room_join.PUBLIC_URL_ENV, "https://talk.example.org/mnist")
    room = store.create_room("<script>alert(1)</script>")
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 12:16] = 255
    probs = tuple(0.91 if d == 1 else 0.01 for d in range(10))
    store.add_drawing(
        room.code,
        "p1",
        img.tobytes(),
        "[[[1,2],[3,4]]]",
        {"mlp": rules.Answer(probs, "shipped/mlp"), "cnn": rules.Answer(probs, "shipped/cnn")},
        label=7,
        nickname="<i>Eve</i>",
    )
    at = page(WALL, room.code)
    assert not at.exception and not at.error
    body = html_of(at)
    assert f'id="wall-code">{rules.shown_code(room.code)}<' in body
    assert f"https://talk.example.org/mnist/join?room={room.code}" in body
    assert 'src="data:image/svg+xml;base64,' in body
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "<i>Eve</i>" not in body and "&lt;i&gt;Eve&lt;/i&gt;" in body
    assert 'data-drawings="1"' in body and 'data-right="0" data-labelled="1"' in body
    assert "Stumped both (1)" in body
    assert not texts(at, "warning")  # the public URL is set: phones reach it through that


def panel(code: str) -> AppTest:
    """The presenter's panel of a room (not yet unlocked)."""
    at = AppTest.from_file(WALL, default_timeout=60)
    at.query_params["room"] = code
    at.query_params["view"] = "presenter"
    return at.run()


def test_the_setup_warning_is_on_the_presenters_panel_not_the_audience_wall(store) -> None:
    code = store.create_room().code
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    try:
        wall = page(WALL, code)
        at = unlock(panel(code))
    finally:
        config.set_option("server.address", before)
    assert not wall.exception and not texts(wall, "warning") and not wall.code
    assert any("Phones cannot reach this server" in w for w in texts(at, "warning"))
    assert [c.value for c in at.code] == [room_join.OPEN_COMMAND]
    # The command exactly as the README gives it.
    readme = (ROOT / "README.md").read_text()
    assert f"{room_join.OPEN_COMMAND}   #" in readme or f"{room_join.OPEN_COMMAND}\n" in readme


def test_the_audience_wall_has_no_controls_and_visitors_cannot_use_the_panel(store) -> None:
    code = store.create_room().code
    wall = page(WALL, code)
    assert not wall.exception
    assert [b.label for b in wall.button] == [] and not wall.get("download_button")
    assert 'id="wall-code"' in html_of(wall) and 'id="tiles"' in html_of(wall)
    at = panel(code)
    labels = {b.label for b in at.button}
    assert "Unlock" in labels
    assert not labels & {"Pause sending", "Close the room", "Open a new room"}
    assert not at.get("download_button")
    assert any("after unlocking" in c for c in texts(at, "caption"))
    at.text_input(key="wall-presenter-code").input("not-the-passcode")
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert any("passcode" in e.lower() for e in texts(at, "error"))
    assert "Pause sending" not in {b.label for b in at.button}
    assert store.get_room(code).state == "open"


def test_wall_controls_open_pause_close_and_reopen_a_room(store) -> None:
    at = unlock(page(WALL))
    assert not at.exception
    next(t for t in at.text_input if t.label == "Title of a new room").input("Friday demo")
    next(b for b in at.button if b.label == "Open a new room").click().run()
    [room] = store.list_rooms()
    assert room.title == "Friday demo" and at.query_params["room"] == room.code
    assert at.query_params["view"] == "presenter"  # the presenter's panel of the new room
    at.run()
    assert not at.exception
    by_label = {b.label: b for b in at.button}
    by_label["Pause sending"].click().run()
    assert store.get_room(room.code).state == "paused"
    {b.label: b for b in at.button}["Close the room"].click().run()
    assert store.get_room(room.code).state == "closed"
    {b.label: b for b in at.button}["Open for sending"].click().run()
    assert store.get_room(room.code).state == "open"


def test_wall_for_an_unknown_room_says_so(store) -> None:
    at = page(WALL, "QQQQ")
    assert not at.exception
    assert any("There is no room QQQQ" in e for e in texts(at, "error"))


def test_the_presenter_hides_a_drawing_from_its_tile_and_shows_it_again(store) -> None:
    code = store.create_room().code
    probs = tuple(0.91 if d == 2 else 0.01 for d in range(10))
    ids = [
        store.add_drawing(
            code,
            f"p{i}",
            bytes(784),
            "[]",
            {"mlp": rules.Answer(probs, "shipped/mlp"), "cnn": rules.Answer(probs, "shipped/cnn")},
            label=2,
        ).id
        for i in range(2)
    ]
    at = unlock(panel(code))
    assert f'id="tile-{ids[0]}"' in html_of(at) and f'id="tile-{ids[1]}"' in html_of(at)
    next(b for b in at.button if b.label == f"Hide #{ids[0]}").click().run()
    assert not at.exception
    assert [d.id for d in store.drawings(code)] == [ids[1]]
    assert f'id="hidden-{ids[0]}"' in html_of(at) and "Hidden drawings (1)" in html_of(at)
    wall = page(WALL, code)
    body = html_of(wall)
    assert 'data-drawings="1"' in body and f'id="tile-{ids[0]}"' not in body
    assert 'data-right="1" data-labelled="1"' in body  # the scoreboard without it
    next(b for b in at.button if b.label == f"Show #{ids[0]} again").click().run()
    assert [d.id for d in store.drawings(code)] == ids
    assert 'data-drawings="2"' in html_of(page(WALL, code))
    # The export keeps hidden drawings, marked hidden.
    store.set_hidden(code, ids[1])
    from mnist_models.rooms import exchange

    data = exchange.export_room(store, code)
    room, drawings = exchange.read_export(data)
    assert [d.hidden for d in drawings] == [False, True]


def test_new_marks_only_the_newest_few_of_the_last_seconds() -> None:
    from app_pages import room_tiles

    def made(i: int, created: float) -> rules.Drawing:
        return rules.Drawing(i, "ACDE", created, "p", None, "[]", bytes(784), None, {})

    now = 10_000.0
    burst = [made(100 - i, now - 0.01 * i) for i in range(30)]  # 30 in the last second
    assert room_tiles.new_ids(burst, now) == {100, 99, 98}
    assert len(room_tiles.new_ids(burst, now)) == room_tiles.NEW_MAX
    old = [made(5, now - room_tiles.NEW_S - 1), made(4, now - 60)]
    assert room_tiles.new_ids(old, now) == set()
    mixed = [made(7, now - 1), made(6, now - room_tiles.NEW_S - 0.5)]
    assert room_tiles.new_ids(mixed, now) == {7}


def test_a_damaged_store_gives_a_sentence_not_a_traceback(tmp_path, monkeypatch) -> None:
    home = tmp_path / "damaged"
    home.mkdir()
    (home / "rooms.sqlite3").write_bytes(b"not a database at all" * 100)
    monkeypatch.setenv("MNIST_APP_HOME", str(home))
    for path in (WALL, PHONE):
        at = page(path, "ACDE")
        assert not at.exception
        assert any("room store" in e and "cannot be opened" in e for e in texts(at, "error"))
        # One sentence for visitors: the path is for the server's log only.
        assert not any(str(home) in e or "sqlite3" in e for e in texts(at, "error"))


MARKDOWN_TITLE = "![x](http://evil.example/i.png) [click](http://evil.example) **big**"


def test_no_markdown_from_data_on_the_room_pages(store) -> None:
    room = store.create_room(MARKDOWN_TITLE)
    store.set_state(room.code, "closed")
    at = page(PHONE, room.code)
    assert not at.exception
    # The title is plain text: escaped inside HTML, never in a markdown element.
    assert "&lt;" not in MARKDOWN_TITLE and html.escape(room.title) in html_of(at)
    assert not any("evil.example" in m.value for m in at.markdown)
    # What a visitor typed comes back as written, not as a link or an image.
    at = page(PHONE, "![x](http://evil.example/i.png)")
    [error] = texts(at, "error")
    assert "is not a room code" in error and "![" not in error and "](" not in error


def test_the_pages_use_the_database_in_mnist_room_db(postgres, tmp_path, monkeypatch) -> None:
    url = postgres.new_database()
    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    monkeypatch.setenv(room_store.STORE_ENV, url)
    s = room_store.open_store()
    code = s.create_room("On the server").code
    probs = tuple(0.91 if d == 5 else 0.01 for d in range(10))
    s.add_drawing(
        code,
        "p1",
        bytes(784),
        "[]",
        {"mlp": rules.Answer(probs, "shipped/mlp"), "cnn": rules.Answer(probs, "shipped/cnn")},
        label=5,
    )
    wall = page(WALL, code)
    assert not wall.exception and 'data-drawings="1"' in html_of(wall)
    phone = page(PHONE, code)
    assert not phone.exception and s.participants(code) == 2
    assert not (tmp_path / "rooms.sqlite3").exists()
    s.close()


def test_a_number_sent_from_a_phone_is_said_to_be_digits_and_not_scored(store) -> None:
    """A 1 and a 0 side by side: the phone's line says two digits, and the drawing goes to the
    wall marked as no single digit, counted apart from the scores (rooms/scoreboard.py)."""
    code = store.create_room().code
    page(PHONE, code)  # registers the canvas component, so that it can be patched
    t = np.linspace(0, 2 * np.pi, 50)
    ten = [
        np.stack([np.full(20, 60.0), np.linspace(80, 240, 20)], 1),
        np.stack([190 + 55 * np.cos(t), 160 + 80 * np.sin(t)], 1),
    ]
    drawn = types.SimpleNamespace(json_data=fabric(ten))
    with mock.patch("streamlit_drawable_canvas.st_canvas", return_value=drawn):
        at = page(PHONE, code)
        assert "This looks like 2 digits side by side, 1 0." in html_of(at)
        next(b for b in at.button if b.label == "Send").click().run()
    assert not at.exception and not at.error
    (sent,) = store.drawings(code)
    assert sent.not_digit is True
    # The wall says "not one digit" (true of a number as of a star) and scores it apart.
    wall = html_of(page(WALL, code))
    assert 'data-not-digit="1"' in wall and ">not one digit</span>" in wall
    assert '<div class="ta-digit">' in wall and 'class="ta-digit" style=' not in wall
    assert "1 drawing not one digit (no digit, or several side by side)" in wall
    assert 'data-drawings="1"' in wall and 'data-labelled="0"' in wall


def test_phone_sends_the_drawing_as_the_canvas_rules_encode_it(store) -> None:
    code = store.create_room("Year 10").code
    page(PHONE, code)  # registers the canvas component, so that it can be patched
    test = data.load_split("test")
    seven = next(test.images[i].numpy() for i in range(100) if int(test.labels[i]) == 7)
    strokes = synth.place_strokes(synth.digit_strokes(seven), 250, 80, 60)
    fabric = {
        "objects": [
            {"type": "path", "path": [["M", *s[0]]] + [["L", *p] for p in s[1:]]}
            for s in (s.tolist() for s in strokes)
        ]
    }
    drawn = types.SimpleNamespace(json_data=fabric)
    with mock.patch("streamlit_drawable_canvas.st_canvas", return_value=drawn):
        at = page(PHONE, code)
        assert not at.exception and not at.error
        send = next(b for b in at.button if b.label == "Send")
        assert not send.disabled
        send.click().run()
    assert not at.exception and not at.error
    (sent,) = store.drawings(code)
    assert sent.strokes == canvas.encode_strokes(canvas.strokes_from_fabric(fabric))

    # Deep state from the browser: Streamlit's own parse fails; one sentence, no traceback.
    def deep(*args, **kwargs):
        state = WidgetState(id="c", json_value="[" * 300_000 + "]" * 300_000)
        return types.SimpleNamespace(json_data=unpack_widget_state_value(state))

    with mock.patch("streamlit_drawable_canvas.st_canvas", side_effect=deep):
        at = page(PHONE, code)
    assert not at.exception
    assert texts(at, "error") == [f"This drawing cannot be read: {canvas.MALFORMED}"]


def away() -> rules.StoreUnavailable:
    """What the store raises while its database is away (sql.CANNOT_USE, with a detail)."""
    return rules.StoreUnavailable(
        "The room store cannot be used right now: try again in a moment.",
        "postgresql://db/rooms: connection refused",
    )


def test_the_wall_waits_for_the_database_and_keeps_what_it_showed(store) -> None:
    code = store.create_room("Outage").code
    probs = tuple(0.91 if d == 4 else 0.01 for d in range(10))
    answers = {"mlp": rules.Answer(probs, "shipped/mlp"), "cnn": rules.Answer(probs, "s/c")}
    d = store.add_drawing(code, "p1", bytes(784), "[[[1,2],[3,4]]]", answers, label=4)
    at = page(WALL, code)
    assert f'id="tile-{d.id}"' in html_of(at) and 'id="wall-waiting"' not in html_of(at)
    with (
        mock.patch.object(room_store.Rooms, "get_room", side_effect=away()),
        mock.patch.object(room_store.Rooms, "drawings", side_effect=away()),
    ):
        at.run()
    assert not at.exception and not at.error  # no alert in Streamlit's small type
    body = html_of(at)
    # Said in the wall's own large type, over what the wall last read (its tile, its count).
    assert 'id="wall-waiting"' in body and "Waiting for the room's database" in body
    assert f'id="tile-{d.id}"' in body and 'data-drawings="1"' in body
    assert "connection refused" not in body  # the detail is for the server's log
    # Back by itself: a drawing sent meanwhile shows at the next look.
    later = store.add_drawing(code, "p2", bytes(784), "[[[1,2],[3,4]]]", answers, label=4)
    at.run()
    body = html_of(at)
    assert 'id="wall-waiting"' not in body and f'id="tile-{later.id}"' in body


def test_a_send_the_database_refuses_is_kept_and_goes_later(store) -> None:
    code = store.create_room("Outage").code
    page(PHONE, code)  # registers the canvas component, so that it can be patched
    test = data.load_split("test")
    seven = next(test.images[i].numpy() for i in range(100) if int(test.labels[i]) == 7)
    drawn = types.SimpleNamespace(
        json_data=fabric(synth.place_strokes(synth.digit_strokes(seven), 250, 80, 60))
    )
    with mock.patch("streamlit_drawable_canvas.st_canvas", return_value=drawn):
        at = page(PHONE, code)
        send = next(b for b in at.button if b.label == "Send")
        with mock.patch.object(room_store.Rooms, "add_drawing", side_effect=away()):
            send.click().run()
        assert not at.exception
        [error] = texts(at, "error")
        assert error.startswith("Not sent") and "database is not answering right now" in error
        assert "kept" in error and "connection refused" not in error
        assert store.drawings(code) == []
        # The drawing is still there, answered, and Send works once the database is back.
        assert 'id="answer-cnn"' in html_of(at)
        send = next(b for b in at.button if b.label == "Send")
        assert not send.disabled
        send.click().run()
        assert not at.exception and not at.error
    assert len(store.drawings(code)) == 1
