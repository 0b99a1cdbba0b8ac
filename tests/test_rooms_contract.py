"""The room store's contract, run on every kind of store (the `room_store` fixture's params):
codes, limits, states, the rate limit, hiding, restarts, concurrent writers, export round-trip."""

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

from mnist_models.reading import canvas
from mnist_models.rooms import exchange, rules
from mnist_models.rooms.rules import Answer, RateLimited, RoomError, RoomNotFound, RoomNotOpen
from mnist_models.rooms.store import open_store

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


STROKES = canvas.encode_strokes([[(10, 10), (20, 40.55), (30, 80)], [(5, 5), (6, 9)]])


def send(store, code, who="p1", label=None, now=1000.0, mlp=3, cnn=3, **kw):
    return store.add_drawing(
        code, who, image(int(now)), STROKES, answers(mlp, cnn), label=label, now=now, **kw
    )


def test_rooms_have_short_unambiguous_codes_and_can_be_listed(room_store) -> None:
    made = [room_store.create_room(f"Talk {i}") for i in range(20)]
    assert len({r.code for r in made}) == 20
    for r in made:
        assert len(r.code) == rules.CODE_LENGTH and set(r.code) <= set(rules.CODE_LETTERS)
        assert r.state == "open"
    assert not set("BILOSZ01258") & set(rules.CODE_LETTERS)
    assert [r.code for r in room_store.list_rooms()] == [r.code for r in reversed(made)]
    # Typed on a phone: any case and spaces.
    typed = " " + made[0].code.lower()[:2] + " " + made[0].code.lower()[2:]
    assert room_store.get_room(typed) == made[0]


def test_a_room_keeps_its_title_and_a_taken_code_is_refused(room_store) -> None:
    room = room_store.create_room("  Year\x00 10   maths ", code="acde")
    assert (room.code, room.title) == ("ACDE", "Year 10 maths")
    assert room_store.get_room("ACDE") == room
    with pytest.raises(RoomError, match="Room ACDE already exists"):
        room_store.create_room("again", code="ACDE")
    assert room_store.create_room("x" * 500).title == "x" * rules.MAX_TITLE
    assert room_store.create_room().title.startswith("Room ")
    assert len(room_store.list_rooms()) == 3


def test_wrong_codes_get_clear_messages(room_store) -> None:
    with pytest.raises(RoomNotFound, match="not a room code"):
        room_store.get_room("<script>")
    with pytest.raises(RoomNotFound, match="no room ACDE"):
        room_store.get_room("acde")
    with pytest.raises(RoomNotFound):
        send(room_store, "ACDE")
    with pytest.raises(RoomNotFound, match="no room ACDE"):
        room_store.set_state("ACDE", "paused")
    with pytest.raises(RoomNotFound, match="no room ACDE"):
        room_store.join("ACDE", "p1")


def test_codes_say_which_letters_they_never_use(room_store) -> None:
    with pytest.raises(RoomNotFound, match="Z is never used in codes") as err:
        room_store.get_room("ZZZZ")
    assert " ".join(rules.CODE_LETTERS) in str(err.value)
    with pytest.raises(RoomNotFound, match="B, O are never used"):
        room_store.get_room("BOAT")
    with pytest.raises(RoomNotFound, match="letters only"):
        room_store.get_room("AC1E")
    with pytest.raises(RoomNotFound, match="6 letters"):
        room_store.get_room("ACDEF")
    room = room_store.create_room()
    assert len(room.code) == 6 and rules.CODE_LENGTH == 6
    assert len(rules.CODE_LETTERS) ** rules.CODE_LENGTH == 64_000_000
    # Read off the wall as two groups of three, typed with a space or a dash.
    shown = rules.shown_code(room.code)
    assert shown == f"{room.code[:3]} {room.code[3:]}"
    assert room_store.get_room(shown.lower()) == room
    assert room_store.get_room(shown.replace(" ", "-")) == room
    old = room_store.create_room(code="ACDE")  # four-letter rooms made before keep working
    assert room_store.get_room("acde") == old and rules.shown_code("ACDE") == "ACDE"


def test_wrong_codes_are_throttled_per_client_address(room_store, monkeypatch) -> None:
    import itertools
    import time

    room = room_store.create_room()
    codes = ("".join(c) for c in itertools.product(rules.CODE_LETTERS, repeat=6))
    unknown = (c for c in codes if c != room.code)
    for _ in range(rules.MAX_WRONG_CODES):
        with pytest.raises(RoomNotFound, match="There is no room"):
            room_store.find_room(next(unknown), "203.0.113.7")
    # The address is held for the rest of its window, even for the right code.
    with pytest.raises(rules.TooManyTries, match="Too many wrong room codes") as err:
        room_store.find_room(room.code, "203.0.113.7")
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    assert room_store.find_room(room.code, "203.0.113.8") == room  # another address is not
    for typo in ("ZZZZ", "ACD", "<b>"):  # malformed codes cannot hit a room: not counted
        with pytest.raises(RoomNotFound):
            room_store.find_room(typo, "203.0.113.9")
    for _ in range(rules.MAX_WRONG_CODES):
        with pytest.raises(RoomNotFound):
            room_store.find_room("ZZZZZZ", "203.0.113.9")
    assert room_store.find_room(room.code, "203.0.113.9") == room
    monkeypatch.setattr(rules, "WRONG_CODE_WINDOW", 0.2)
    time.sleep(0.25)
    assert room_store.find_room(room.code, "203.0.113.7") == room  # the window is over
    with pytest.raises(RoomNotFound):  # and it counts again from one
        room_store.find_room(next(unknown), "203.0.113.7")
    assert room_store.find_room(room.code, "203.0.113.7") == room


def test_a_drawing_is_stored_whole(room_store) -> None:
    room = room_store.create_room("Maths class")
    d = send(room_store, room.code, label=7, nickname="  Ada\x00 <b>L</b>  ", mlp=7, cnn=1)
    [back] = room_store.drawings(room.code)
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
    assert room_store.participants(room.code) == 1


def test_joining_counts_each_participant_once(room_store) -> None:
    code = room_store.create_room().code
    room_store.join(code, "a")
    room_store.join(code, "a", nickname="Ann")
    room_store.join(code, "b")
    assert room_store.participants(code) == 2
    with pytest.raises(RoomError, match="participant"):
        room_store.join(code, "x" * 65)
    assert room_store.participants(code) == 2


def test_limits_refuse_bad_drawings(room_store) -> None:
    code = room_store.create_room().code
    huge = json.dumps([[[1.0, 2.0]] * 3000] * 3)
    with pytest.raises(RoomError, match="too large"):
        room_store.add_drawing(code, "p", image(1), huge, answers(1, 1))
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        canvas.encode_strokes([np.zeros((4001, 2))])
    for bad in (
        "[[[1, NaN]]]",
        '[[["a", 1]]]',
        "[[[1, 2, 3]]]",
        '{"a": 1}',
        "nope",
        "[[[Infinity, 1]]]",
        "[[[true, 1]]]",
        json.dumps([[[0, 0]]] * (canvas.MAX_STROKES + 1)),
    ):
        with pytest.raises(RoomError):
            room_store.add_drawing(code, "p", image(1), bad, answers(1, 1))
    with pytest.raises(RoomError, match="784 bytes"):
        room_store.add_drawing(code, "p", b"\x00" * 100, STROKES, answers(1, 1))
    for label in (10, -1, True, "3"):
        with pytest.raises(RoomError, match="label"):
            room_store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=label)
    with pytest.raises(RoomError, match="ten probabilities"):
        room_store.add_drawing(
            code, "p", image(1), STROKES, {"mlp": Answer((float("nan"),) * 10, "shipped/mlp")}
        )
    with pytest.raises(RoomError, match="participant"):
        room_store.add_drawing(code, "", image(1), STROKES, answers(1, 1))
    assert room_store.drawings(code) == []
    assert room_store.participants(code) == 0  # a refused drawing joins no one
    long = send(room_store, code, nickname="x" * 500)
    assert long.nickname == "x" * rules.MAX_NICKNAME


def test_labels_must_be_whole_digits(room_store) -> None:
    code = room_store.create_room().code
    for bad in (3.0, "3", None.__class__):
        with pytest.raises(RoomError, match="label"):
            room_store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=bad)
    d = room_store.add_drawing(code, "p", image(1), STROKES, answers(1, 1), label=np.int64(3))
    assert d.label == 3 and type(room_store.drawings(code)[0].label) is int
    with pytest.raises(RoomError, match="ten probabilities"):
        room_store.add_drawing(code, "q", image(1), STROKES, {"mlp": {"probs": 5}})


def test_rate_limit_is_one_drawing_a_second_per_participant(room_store) -> None:
    code = room_store.create_room().code
    send(room_store, code, "a", now=100.0)
    with pytest.raises(RateLimited, match="One drawing a second"):
        send(room_store, code, "a", now=100.5)
    send(room_store, code, "b", now=100.5)  # someone else is not held up
    send(room_store, code, "a", now=101.0)
    assert len(room_store.drawings(code)) == 3


def test_participant_tokens_are_signed_by_the_store_and_every_server_reads_them(
    room_databases,
) -> None:
    where = room_databases()
    one, two = open_store(where), open_store(where)  # two servers of one deployment
    pid, token = one.new_participant()
    assert token.startswith(pid + ".") and len(pid) == 16 and len(token) <= 64
    assert two.participant_of(token) == pid
    other_pid, other_token = two.new_participant()
    assert other_pid != pid and one.participant_of(other_token) == other_pid
    # An id seen somewhere (an export) cannot be sent as without its signature.
    signature = token.split(".")[1]
    for forged in (pid, f"{other_pid}.{signature}", token[:-1] + "x", token + "x", None, 5):
        assert one.participant_of(forged) is None
    elsewhere = open_store(room_databases())  # another deployment: another key
    assert elsewhere.participant_of(token) is None
    one.close()
    two.close()
    restarted = open_store(where)
    assert restarted.participant_of(token) == pid  # the key is kept in the store
    restarted.close()
    elsewhere.close()


def test_one_address_is_held_to_the_rate_limit_whatever_ids_it_sends_as(room_store) -> None:
    code = room_store.create_room().code
    here, there = "198.51.100.1", "198.51.100.2"
    send(room_store, code, "a", now=100.0, client=here)
    with pytest.raises(RateLimited, match="this network address"):
        send(room_store, code, "b", now=100.5, client=here)  # a fresh id, the same address
    send(room_store, code, "c", now=100.5, client=there)
    send(room_store, code, "b", now=101.0, client=here)  # the refusal took no turn of b's
    with pytest.raises(RateLimited, match="One drawing a second"):
        send(room_store, code, "b", now=101.5, client=there)  # nor does a new address help b
    assert [d.participant for d in room_store.drawings(code)] == ["a", "c", "b"]
    assert room_store.participants(code) == 3
    room_store.limits = rules.AddressLimits(interval=0)  # switched off: ids alone count
    send(room_store, code, "d", now=101.2, client=here)


def test_an_address_makes_only_so_many_new_participants_a_minute(room_store) -> None:
    code = room_store.create_room().code
    room_store.limits = rules.AddressLimits(new_per_minute=3)
    for i in range(3):
        room_store.join(code, f"p{i}", client="192.0.2.9")
    with pytest.raises(rules.TooManyNew, match="Too many new people") as err:
        room_store.join(code, "p3", client="192.0.2.9")
    assert str(err.value).endswith(".")
    room_store.join(code, "p0", nickname="Ann", client="192.0.2.9")  # returning: not new
    assert room_store.nickname(code, "p0") == "Ann"
    with pytest.raises(rules.TooManyNew):
        send(room_store, code, "p4", now=50.0, client="192.0.2.9")
    room_store.join(code, "p3", client="192.0.2.10")
    assert room_store.participants(code) == 4
    assert room_store.drawings(code) == []


def test_address_limits_come_from_the_environment() -> None:
    assert rules.address_limits({}) == rules.AddressLimits(rules.MIN_INTERVAL, 20)
    env = {rules.ADDRESS_INTERVAL_ENV: "0", rules.NEW_PER_MINUTE_ENV: "200"}
    assert rules.address_limits(env) == rules.AddressLimits(0.0, 200)
    for bad in ({rules.ADDRESS_INTERVAL_ENV: "fast"}, {rules.NEW_PER_MINUTE_ENV: "-1"}):
        with pytest.raises(RoomError, match=rules.ADDRESS_INTERVAL_ENV):
            rules.address_limits(bad)


def test_paused_and_closed_rooms_refuse_drawings_and_reopen(room_store) -> None:
    code = room_store.create_room().code
    assert room_store.set_state(code, "paused").state == "paused"
    with pytest.raises(RoomNotOpen, match="paused"):
        send(room_store, code)
    room_store.set_state(code, "closed")
    with pytest.raises(RoomNotOpen, match="closed"):
        send(room_store, code)
    with pytest.raises(RoomError):
        room_store.set_state(code, "deleted")
    assert room_store.get_room(code).state == "closed"
    assert room_store.set_state(code, "open").state == "open"
    send(room_store, code)
    assert len(room_store.drawings(code)) == 1


def test_hidden_drawings_leave_the_wall_and_bump_the_revision(room_store) -> None:
    code = room_store.create_room().code
    a = send(room_store, code, "a", now=1.0)
    b = send(room_store, code, "b", now=2.0)
    rev = room_store.get_room(code).revision
    room_store.set_hidden(code, a.id)
    assert [d.id for d in room_store.drawings(code)] == [b.id]
    assert [d.id for d in room_store.drawings(code, include_hidden=True)] == [a.id, b.id]
    assert room_store.get_room(code).revision == rev + 1
    assert [d.id for d in room_store.drawings(code, after=a.id)] == [b.id]
    assert [d.id for d in room_store.drawings(code, include_hidden=True, limit=1)] == [a.id]
    assert [d.id for d in room_store.drawings(code, hidden_only=True)] == [a.id]
    assert room_store.hidden(code) == {a.id: "a"}
    assert [d.id for d in room_store.drawings(code, include_hidden=True, newest_first=True)] == [
        b.id,
        a.id,
    ]
    assert [d.id for d in room_store.drawings(code, newest_first=True, limit=1)] == [b.id]
    room_store.set_hidden(code, a.id, hidden=False)
    assert [d.id for d in room_store.drawings(code)] == [a.id, b.id]
    assert room_store.get_room(code).revision == rev + 2
    assert room_store.hidden(code) == {}
    other = room_store.create_room().code
    with pytest.raises(RoomError):  # a drawing of another room
        room_store.set_hidden(other, b.id)
    assert room_store.get_room(other).revision == 0


def test_restart_loses_nothing(room_url: str) -> None:
    s = open_store(room_url)
    code = s.create_room("Before").code
    d = send(s, code, label=3)
    s.set_state(code, "paused")
    s.close()
    s2 = open_store(room_url)
    assert s2.get_room(code).state == "paused"
    assert s2.drawings(code) == [d]
    assert s2.participants(code) == 1
    s2.close()


def test_concurrent_threads_lose_nothing(room_store) -> None:
    code = room_store.create_room().code
    errors = []

    def phone(i: int) -> None:
        try:
            for k in range(15):
                send(room_store, code, f"t{i}", label=k % 10, now=1000.0 + k * 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = room_store.drawings(code)
    assert len(got) == 8 * 15 and len({d.id for d in got}) == 120
    assert room_store.participants(code) == 8


def test_one_participant_sending_from_many_threads_at_once_gets_one_through(room_store) -> None:
    code = room_store.create_room().code
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def phone(k: int) -> None:
        start.wait()
        try:
            send(room_store, code, "same", now=500.0)
            outcomes.append("sent")
        except RateLimited:
            outcomes.append("limited")
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=phone, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limited"] * 7 + ["sent"]
    assert len(room_store.drawings(code)) == 1


WRITER = """
import sys
import numpy as np
from mnist_models.rooms import rules, store
url, code, who, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = store.open_store(url)
probs = tuple(0.91 if d == 4 else 0.01 for d in range(10))
limited = 0
for k in range(n):
    try:
        s.add_drawing(code, who, np.full(784, k, np.uint8).tobytes(), "[[[1,2],[3,4]]]",
                      {"mlp": rules.Answer(probs, "shipped/mlp")}, label=k % 10,
                      now=1000.0 + 2 * k)
    except rules.RateLimited:
        limited += 1
s.close()
print(limited)
"""


def run_writers(url: str, code: str, who: list[str], n: int) -> list[int]:
    """Separate interpreters sending at once, as several server processes sharing one store."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, code, w, str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in who
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs)
    return [int(o) for o in outs]


def test_concurrent_processes_lose_nothing(room_store, room_url: str) -> None:
    code = room_store.create_room().code
    assert run_writers(room_url, code, ["proc0", "proc1", "proc2"], 20) == [0, 0, 0]
    got = room_store.drawings(code)
    assert len(got) == 60
    assert sorted(Counter(d.participant for d in got).values()) == [20, 20, 20]


def test_processes_sending_for_one_participant_keep_the_rate_limit(room_store, room_url) -> None:
    code = room_store.create_room().code
    limited = run_writers(room_url, code, ["same", "same", "same"], 20)
    got = room_store.drawings(code)
    # Each process sends at the same 20 times: every time gets in at most once, every
    # refusal is a RateLimited, and what got in is at least MIN_INTERVAL apart.
    assert len(got) + sum(limited) == 60 and 1 <= len(got) <= 20
    times = [d.created for d in got]
    assert all(b - a >= rules.MIN_INTERVAL for a, b in zip(times, times[1:]))


def test_export_then_import_round_trips(room_store, room_databases) -> None:
    room = room_store.create_room("Round trip")
    sent = [
        send(
            room_store,
            room.code,
            f"p{i % 3}",
            label=(None if i % 4 == 0 else i % 10),
            nickname=f"n{i}",
            now=10.0 + i * 2,
            mlp=i % 10,
            cnn=(i + 1) % 10,
            not_digit=[None, False, True][i % 3],
        )
        for i in range(12)
    ]
    room_store.set_hidden(room.code, sent[5].id)
    room_store.set_state(room.code, "closed")
    data = exchange.export_room(room_store, room.code)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        meta = json.loads(z.read("room.json"))
        npz = np.load(io.BytesIO(z.read("room.npz")), allow_pickle=False)
        assert npz["images"].shape == (12, 28, 28) and npz["images"].dtype == np.uint8
        assert list(npz["networks"]) == meta["networks"] == ["mlp", "cnn"]
        assert npz["probs"].shape == (12, 2, 10)
        assert npz["labels"][0] == -1 and npz["labels"][1] == 1
    fresh = open_store(room_databases())
    back = exchange.import_room(fresh, data)
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
    assert [d.not_digit for d in got] == [[None, False, True][i % 3] for i in range(12)]
    assert fresh.participants(room.code) == 3
    # Importing again keeps the first copy and gives the second a new code.
    again = exchange.import_room(fresh, data)
    assert again.code != room.code and len(fresh.drawings(again.code, include_hidden=True)) == 12
    fresh.close()


def test_import_refuses_what_is_not_an_export(room_store) -> None:
    for bad in (
        b"not a zip",
        _zip({"room.json": "{}"}),
        _zip({"room.json": '{"format": "other"}', "room.npz": b""}),
        _zip({"room.json": json.dumps({"format": "mnist-room", "version": 9}), "room.npz": b"x"}),
    ):
        with pytest.raises(RoomError):
            exchange.import_room(room_store, bad)
    assert room_store.list_rooms() == []


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_imported_drawings_are_checked_like_sent_ones(room_store) -> None:
    code = room_store.create_room().code
    good = send(room_store, code, "a", now=1.0)
    bad = [good.__class__(**{**good.__dict__, "image": b"\x00" * 3})]
    with pytest.raises(RoomError, match="784 bytes"):
        room_store.import_drawings(code, bad)
    with pytest.raises(RoomNotFound):
        room_store.import_drawings("ACDE" if code != "ACDE" else "ACDF", [good])
    room_store.import_drawings(code, [good, good])  # their own times: no rate limit
    assert len(room_store.drawings(code)) == 3
