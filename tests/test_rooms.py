"""The room store: limits, states, rate limit, restart, concurrent writers, export round-trip."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mnist_models.rooms import rooms
from mnist_models.rooms.rooms import Answer, RateLimited, RoomError, RoomNotFound, RoomNotOpen

ROOT = Path(__file__).resolve().parent.parent


def probs_for(digit: int, conf: float = 0.9) -> tuple[float, ...]:
    rest = (1 - conf) / 9
    return tuple(conf if d == digit else rest for d in range(10))


def answers(mlp: int, cnn: int) -> dict[str, Answer]:
    return {
        "mlp": Answer(probs_for(mlp), "shipped/mlp"),
        "cnn": Answer(probs_for(cnn, 0.8), "shipped/cnn"),
    }


def image(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8).tobytes()


STROKES = rooms.encode_strokes([[(10, 10), (20, 40.55), (30, 80)], [(5, 5), (6, 9)]])


@pytest.fixture()
def store(tmp_path: Path):
    s = rooms.SQLiteRoomStore(tmp_path / "rooms.sqlite3")
    yield s
    s.close()


def send(store, code, who="p1", label=None, now=1000.0, mlp=3, cnn=3, **kw):
    return store.add_drawing(
        code, who, image(int(now)), STROKES, answers(mlp, cnn), label=label, now=now, **kw
    )


def test_rooms_have_short_unambiguous_codes_and_can_be_listed(store) -> None:
    made = [store.create_room(f"Talk {i}") for i in range(20)]
    assert len({r.code for r in made}) == 20
    for r in made:
        assert len(r.code) == rooms.CODE_LENGTH and set(r.code) <= set(rooms.CODE_LETTERS)
        assert r.state == "open"
    assert not set("BILOSZ01258") & set(rooms.CODE_LETTERS)
    assert [r.code for r in store.list_rooms()] == [r.code for r in reversed(made)]
    # Typed on a phone: any case and spaces.
    assert (
        store.get_room(" " + made[0].code.lower()[:2] + " " + made[0].code.lower()[2:]) == made[0]
    )


def test_wrong_codes_get_clear_messages(store) -> None:
    with pytest.raises(RoomNotFound, match="not a room code"):
        store.get_room("<script>")
    with pytest.raises(RoomNotFound, match="no room ACDE"):
        store.get_room("acde")
    with pytest.raises(RoomNotFound):
        send(store, "ACDE")


def test_a_drawing_is_stored_whole(store) -> None:
    room = store.create_room("Maths class")
    d = send(store, room.code, label=7, nickname="  Ada\x00 <b>L</b>  ", mlp=7, cnn=1)
    [back] = store.drawings(room.code)
    assert back == d
    assert back.nickname == "Ada <b>L</b>"  # control characters gone; HTML escaped on display
    assert back.label == 7 and back.right("mlp") and not back.right("cnn")
    assert back.answers["cnn"].digit == 1 and back.answers["cnn"].version == "shipped/cnn"
    assert back.answers["mlp"].confidence == pytest.approx(0.9)
    assert back.pixels().tobytes() == image(1000)
    assert json.loads(back.strokes) == [
        [[10.0, 10.0], [20.0, 40.5], [30.0, 80.0]],
        [[5.0, 5.0], [6.0, 9.0]],
    ]
    assert store.participants(room.code) == 1


def test_limits_refuse_bad_drawings(store) -> None:
    code = store.create_room().code
    huge = json.dumps([[[1.0, 2.0]] * 3000] * 3)
    with pytest.raises(RoomError, match="too large"):
        store.add_drawing(code, "p", image(1), huge, answers(1, 1))
    with pytest.raises(RoomError, match="at most 4,000 points"):
        rooms.encode_strokes([np.zeros((4001, 2))])
    for bad in (
        "[[[1, NaN]]]",
        '[[["a", 1]]]',
        "[[[1, 2, 3]]]",
        '{"a": 1}',
        "nope",
        "[[[Infinity, 1]]]",
        "[[[true, 1]]]",
        json.dumps([[[0, 0]]] * 51),
    ):
        with pytest.raises(RoomError):
            store.add_drawing(code, "p", image(1), bad, answers(1, 1))
    with pytest.raises(RoomError, match="784 bytes"):
        store.add_drawing(code, "p", b"\x00" * 100, STROKES, answers(1, 1))
    for label in (10, -1, True, "3"):
        with pytest.raises(RoomError, match="label"):
            store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=label)
    with pytest.raises(RoomError, match="ten probabilities"):
        store.add_drawing(
            code, "p", image(1), STROKES, {"mlp": Answer((float("nan"),) * 10, "shipped/mlp")}
        )
    with pytest.raises(RoomError, match="participant"):
        store.add_drawing(code, "", image(1), STROKES, answers(1, 1))
    assert store.drawings(code) == []
    long = send(store, code, nickname="x" * 500)
    assert long.nickname == "x" * rooms.MAX_NICKNAME


def test_rate_limit_is_one_drawing_a_second_per_participant(store) -> None:
    code = store.create_room().code
    send(store, code, "a", now=100.0)
    with pytest.raises(RateLimited, match="One drawing a second"):
        send(store, code, "a", now=100.5)
    send(store, code, "b", now=100.5)  # someone else is not held up
    send(store, code, "a", now=101.0)
    assert len(store.drawings(code)) == 3


def test_paused_and_closed_rooms_refuse_drawings_and_reopen(store) -> None:
    code = store.create_room().code
    store.set_state(code, "paused")
    with pytest.raises(RoomNotOpen, match="paused"):
        send(store, code)
    store.set_state(code, "closed")
    with pytest.raises(RoomNotOpen, match="closed"):
        send(store, code)
    with pytest.raises(RoomError):
        store.set_state(code, "deleted")
    assert store.set_state(code, "open").state == "open"
    send(store, code)
    assert len(store.drawings(code)) == 1


def test_hidden_drawings_leave_the_wall_and_bump_the_revision(store) -> None:
    code = store.create_room().code
    a = send(store, code, "a", now=1.0)
    b = send(store, code, "b", now=2.0)
    rev = store.get_room(code).revision
    store.set_hidden(code, a.id)
    assert [d.id for d in store.drawings(code)] == [b.id]
    assert [d.id for d in store.drawings(code, include_hidden=True)] == [a.id, b.id]
    assert store.get_room(code).revision == rev + 1
    assert [d.id for d in store.drawings(code, after=a.id)] == [b.id]
    other = store.create_room().code
    with pytest.raises(RoomError):  # a drawing of another room
        store.set_hidden(other, b.id)


def test_restart_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rooms.sqlite3"
    s = rooms.SQLiteRoomStore(path)
    code = s.create_room("Before").code
    d = send(s, code, label=3)
    s.set_state(code, "paused")
    s.close()
    s2 = rooms.SQLiteRoomStore(path)
    assert s2.get_room(code).state == "paused"
    assert s2.drawings(code) == [d]
    assert s2.participants(code) == 1
    s2.close()


def test_concurrent_threads_lose_nothing(store) -> None:
    code = store.create_room().code
    errors = []

    def phone(i: int) -> None:
        try:
            for k in range(15):
                send(store, code, f"t{i}", label=k % 10, now=1000.0 + k * 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = store.drawings(code)
    assert len(got) == 8 * 15 and len({d.id for d in got}) == 120
    assert store.participants(code) == 8


def test_short_lived_threads_do_not_pile_up_connections(store) -> None:
    # A web server runs every script run in a fresh thread.
    code = store.create_room().code
    threads = [threading.Thread(target=store.get_room, args=(code,)) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store._idle) <= store.POOL


WRITER = """
import sys
import numpy as np
from mnist_models.rooms import rooms
path, code, who, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = rooms.SQLiteRoomStore(path)
probs = tuple(0.91 if d == 4 else 0.01 for d in range(10))
for k in range(n):
    s.add_drawing(code, who, np.full(784, k, np.uint8).tobytes(), "[[[1,2],[3,4]]]",
                  {"mlp": rooms.Answer(probs, "shipped/mlp")}, label=k % 10, now=1000.0 + 2 * k)
s.close()
"""


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rooms.sqlite3"
    s = rooms.SQLiteRoomStore(path)
    code = s.create_room().code
    # Separate interpreters, as several server processes sharing one store would be.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), code, f"proc{i}", "20"], cwd=ROOT
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    got = s.drawings(code)
    assert len(got) == 60
    assert sorted(Counter(d.participant for d in got).values()) == [20, 20, 20]
    s.close()


def test_export_then_import_round_trips(store, tmp_path: Path) -> None:
    room = store.create_room("Round trip")
    sent = [
        send(
            store,
            room.code,
            f"p{i % 3}",
            label=(None if i % 4 == 0 else i % 10),
            nickname=f"n{i}",
            now=10.0 + i * 2,
            mlp=i % 10,
            cnn=(i + 1) % 10,
        )
        for i in range(12)
    ]
    store.set_hidden(room.code, sent[5].id)
    store.set_state(room.code, "closed")
    data = rooms.export_room(store, room.code)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        meta = json.loads(z.read("room.json"))
        npz = np.load(io.BytesIO(z.read("room.npz")), allow_pickle=False)
        assert npz["images"].shape == (12, 28, 28) and npz["images"].dtype == np.uint8
        assert list(npz["networks"]) == meta["networks"] == ["mlp", "cnn"]
        assert npz["probs"].shape == (12, 2, 10)
        assert npz["labels"][0] == -1 and npz["labels"][1] == 1
    fresh = rooms.SQLiteRoomStore(tmp_path / "fresh.sqlite3")
    back = rooms.import_room(fresh, data)
    assert (back.code, back.title, back.state) == (room.code, room.title, "closed")
    got = fresh.drawings(room.code, include_hidden=True)
    assert len(got) == 12
    for a, b in zip(sent, got):
        assert (b.created, b.participant, b.nickname, b.label, b.image, b.strokes) == (
            a.created,
            a.participant,
            a.nickname,
            a.label,
            a.image,
            a.strokes,
        )
        for net in ("mlp", "cnn"):
            assert b.answers[net].version == a.answers[net].version
            assert b.answers[net].probs == pytest.approx(a.answers[net].probs, abs=1e-6)
    assert [d.hidden for d in got] == [i == 5 for i in range(12)]
    assert fresh.participants(room.code) == 3
    # Importing again keeps the first copy and gives the second a new code.
    again = rooms.import_room(fresh, data)
    assert again.code != room.code and len(fresh.drawings(again.code, include_hidden=True)) == 12
    fresh.close()


def test_import_refuses_what_is_not_an_export(store) -> None:
    for bad in (
        b"not a zip",
        _zip({"room.json": "{}"}),
        _zip({"room.json": '{"format": "other"}', "room.npz": b""}),
        _zip({"room.json": json.dumps({"format": "mnist-room", "version": 9}), "room.npz": b"x"}),
    ):
        with pytest.raises(RoomError):
            rooms.import_room(store, bad)
    assert store.list_rooms() == []


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_scoreboard_counts_accuracy_digits_confusions_and_highlights(store) -> None:
    code = store.create_room().code
    # (label, mlp read, cnn read)
    plan = [(7, 7, 7), (7, 1, 7), (7, 1, 1), (4, 9, 4), (4, 4, 4), (None, 3, 3), (9, 4, 9)]
    for i, (label, m, c) in enumerate(plan):
        send(store, code, f"p{i}", label=label, mlp=m, cnn=c, now=float(i))
    board = rooms.scoreboard(store.drawings(code), ["mlp", "cnn"])
    assert (board.drawings, board.labelled) == (7, 6)
    mlp, cnn = board.nets["mlp"], board.nets["cnn"]
    assert (mlp.right, mlp.labelled) == (2, 6) and (cnn.right, cnn.labelled) == (5, 6)
    assert mlp.per_digit == {4: (1, 2), 7: (1, 3), 9: (0, 1)}
    assert mlp.confused[0] == ((7, 1), 2)
    assert cnn.confused == [((7, 1), 1)]
    assert [d.label for d in board.only_one_right] == [9, 4, 7]
    assert [(d.label, d.answers["mlp"].digit) for d in board.both_wrong] == [(7, 1)]


def test_join_url_uses_the_lan_address_or_the_override(monkeypatch) -> None:
    monkeypatch.delenv(rooms.PUBLIC_URL_ENV, raising=False)
    url = rooms.join_url("acde", 8501, "0.0.0.0")
    assert url.endswith(":8501/join?room=ACDE") and url.startswith("http://")
    assert "0.0.0.0" not in url
    addr = rooms.lan_address()
    assert addr is None or not addr.startswith("127.")
    assert rooms.join_url("ACDE", 9000, "192.168.1.20") == "http://192.168.1.20:9000/join?room=ACDE"
    monkeypatch.setenv(rooms.PUBLIC_URL_ENV, "https://demo.example.org/mnist/")
    assert rooms.join_url("ACDE", 8501) == "https://demo.example.org/mnist/join?room=ACDE"
    monkeypatch.delenv(rooms.PUBLIC_URL_ENV)
    for local in ("127.0.0.1", "localhost", "[::1]"):  # not reachable: use the LAN address
        assert "127.0.0.1" not in rooms.join_url("ACDE", 8501, local)
        assert "localhost" not in rooms.join_url("ACDE", 8501, local) or addr is None


def test_qr_code_is_inline_svg_that_encodes_the_url() -> None:
    svg = rooms.qr_svg("http://192.168.1.20:8501/join?room=ACDE")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<path" in svg
    assert "href" not in svg  # nothing fetched from anywhere
    assert svg != rooms.qr_svg("http://192.168.1.20:8501/join?room=ACDF")


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_models", "room", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"MNIST_APP_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_cli_lists_exports_and_imports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    s = rooms.SQLiteRoomStore(home / "rooms.sqlite3")
    code = s.create_room("CLI room").code
    for i in range(3):
        send(s, code, f"p{i}", label=i, now=float(i))
    s.close()
    r = run_cli("list", home=home)
    assert r.returncode == 0 and code in r.stdout and "3 drawings" in r.stdout
    out = tmp_path / "room.zip"
    r = run_cli("export", code, "--out", str(out), home=home)
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other"
    r = run_cli("import", str(out), home=other)
    assert r.returncode == 0 and f"imported room {code} (open, 3 drawings)" in r.stdout
    s2 = rooms.SQLiteRoomStore(other / "rooms.sqlite3")
    assert [d.label for d in s2.drawings(code)] == [0, 1, 2]
    s2.close()


@pytest.mark.parametrize(
    "args",
    [
        ("export", "QQQQ", "--out", "x.zip"),
        ("export", "ACDE", "--out", "x.zip"),
        ("export", "ACDE", "--out", "x.txt"),
        ("export", "ACDE", "--out", "/nonexistent/dir/x.zip"),
        ("import", "/nonexistent.zip"),
        ("import", "README.md"),
        ("open", "--code", "ACDE"),
        ("frobnicate",),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(tmp_path: Path, args) -> None:
    r = run_cli(*args, home=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_damaged_store_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "rooms.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(rooms.StoreUnavailable, match="cannot be opened"):
        rooms.SQLiteRoomStore(bad)
    r = run_cli("list", home=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_labels_must_be_whole_digits(store) -> None:
    code = store.create_room().code
    for bad in (3.0, "3", None.__class__):
        with pytest.raises(RoomError, match="label"):
            store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=bad)
    d = store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=np.int64(3))
    assert d.label == 3 and type(store.drawings(code)[0].label) is int
    with pytest.raises(RoomError, match="ten probabilities"):
        store.add_drawing(code, "q", image(1), STROKES, {"mlp": {"probs": 5}})


def test_any_stroke_text_is_accepted_or_refused_in_one_sentence() -> None:
    """Whatever a client sends as strokes: stored unchanged, or one RoomError, never a crash."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import strategies as hs

    leaves = hs.none() | hs.booleans() | hs.integers() | hs.floats() | hs.text(max_size=5)
    values = hs.recursive(
        leaves,
        lambda inner: (
            hs.lists(inner, max_size=6) | hs.dictionaries(hs.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=40,
    )

    @hyp.settings(max_examples=300, deadline=None)
    @hyp.given(hs.one_of(values.map(json.dumps), hs.text(max_size=200)))
    def check(text: str) -> None:
        try:
            assert rooms.check_strokes(text) == text
        except RoomError as exc:
            assert str(exc).endswith(".") and "\n" not in str(exc)

    check()
