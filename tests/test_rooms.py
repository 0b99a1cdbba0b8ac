"""Rooms outside the store's contract: stroke checks, the scoreboard, the join URL and QR
code, the SQLite file (pool, damage), and the `room` command line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import run_here

from mnist_models.reading import canvas
from mnist_models.rooms import join, rules, scoreboard, store
from mnist_models.rooms.rules import Answer, Drawing, RoomError

ROOT = Path(__file__).resolve().parent.parent


def probs_for(digit: int, conf: float = 0.9) -> tuple[float, ...]:
    rest = (1 - conf) / 9
    return tuple(conf if d == digit else rest for d in range(10))


def drawing(i: int, label: int | None, mlp: int, cnn: int) -> Drawing:
    answers = {
        "mlp": Answer(probs_for(mlp), "shipped/mlp"),
        "cnn": Answer(probs_for(cnn, 0.8), "shipped/cnn"),
    }
    return Drawing(i + 1, "ACDE", float(i), f"p{i}", None, "[]", bytes(784), label, answers)


def send(s: store.Rooms, code: str, who: str, label: int, now: float) -> Drawing:
    answers = {"mlp": Answer(probs_for(label), "shipped/mlp")}
    return s.add_drawing(code, who, bytes(784), "[[[1,2]]]", answers, label=label, now=now)


def test_scoreboard_counts_accuracy_digits_confusions_and_highlights() -> None:
    # (label, mlp read, cnn read)
    plan = [(7, 7, 7), (7, 1, 7), (7, 1, 1), (4, 9, 4), (4, 4, 4), (None, 3, 3), (9, 4, 9)]
    shown = [drawing(i, label, m, c) for i, (label, m, c) in enumerate(plan)]
    board = scoreboard.scoreboard(shown, ["mlp", "cnn"])
    assert (board.drawings, board.labelled) == (7, 6)
    mlp, cnn = board.nets["mlp"], board.nets["cnn"]
    assert (mlp.right, mlp.labelled) == (2, 6) and (cnn.right, cnn.labelled) == (5, 6)
    assert mlp.accuracy == pytest.approx(2 / 6)
    assert mlp.per_digit == {4: (1, 2), 7: (1, 3), 9: (0, 1)}
    assert mlp.confused[0] == ((7, 1), 2)
    assert cnn.confused == [((7, 1), 1)]
    assert [d.label for d in board.only_one_right] == [9, 4, 7]
    assert [(d.label, d.answers["mlp"].digit) for d in board.both_wrong] == [(7, 1)]
    assert scoreboard.scoreboard([], ["mlp"]).nets["mlp"].accuracy is None


def test_scoreboard_counts_not_digits_apart_and_says_when_mistakes_tie() -> None:
    from dataclasses import replace

    # Five different mistakes of the MLP, once each: three are shown, two more tie.
    plan = [(1, 7, 1), (2, 5, 2), (3, 8, 3), (4, 9, 4), (6, 0, 6), (5, 5, 5)]
    shown = [drawing(i, label, m, c) for i, (label, m, c) in enumerate(plan)]
    star = replace(drawing(9, 4, 1, 2), not_digit=True)  # labelled, but not a digit
    house = replace(drawing(10, None, 3, 3), not_digit=True)
    board = scoreboard.scoreboard([*shown, star, house], ["mlp", "cnn"])
    assert (board.drawings, board.labelled, board.not_digits) == (8, 6, 2)
    mlp, cnn = board.nets["mlp"], board.nets["cnn"]
    assert (mlp.right, mlp.labelled) == (1, 6) and (cnn.right, cnn.labelled) == (6, 6)
    assert mlp.confused == [((1, 7), 1), ((2, 5), 1), ((3, 8), 1)] and mlp.confused_tied == 2
    assert 4 in mlp.per_digit and mlp.per_digit[4] == (0, 1)  # the star is not in it
    assert cnn.confused == [] and cnn.confused_tied == 0
    assert star not in board.only_one_right + board.both_wrong
    # No tie: nothing more to say.
    two = scoreboard.scoreboard([drawing(0, 1, 7, 1), drawing(1, 1, 7, 1)], ["mlp"])
    assert two.nets["mlp"].confused == [((1, 7), 2)] and two.nets["mlp"].confused_tied == 0


def test_strokes_are_rounded_and_limited() -> None:
    text = canvas.encode_strokes([[(10, 10), (20, 40.55), (30, 80)], [(5, 5), (6, 9)]])
    assert json.loads(text) == [[[10, 10], [20, 40.5], [30, 80]], [[5, 5], [6, 9]]]
    with pytest.raises(canvas.DrawingRejected, match="too many points"):
        canvas.encode_strokes([np.zeros((4001, 2))])
    with pytest.raises(RoomError, match="not text"):
        rules.stored_strokes(b"[]")


def test_images_become_784_bytes() -> None:
    img = np.zeros((28, 28), np.float32)
    img[3, 4] = 1.0
    got = np.frombuffer(rules.image_bytes(img), np.uint8).reshape(28, 28)
    assert got[3, 4] == 255 and got.sum() == 255
    with pytest.raises(RoomError, match="28x28"):
        rules.image_bytes(np.zeros((28, 27)))


def test_join_url_uses_the_lan_address_or_the_override(monkeypatch) -> None:
    monkeypatch.delenv(join.PUBLIC_URL_ENV, raising=False)
    url = join.join_url("acde", 8501, "0.0.0.0")
    assert url.endswith(":8501/join?room=ACDE") and url.startswith("http://")
    assert "0.0.0.0" not in url
    addr = join.lan_address()
    assert addr is None or not addr.startswith("127.")
    assert join.join_url("ACDE", 9000, "192.168.1.20") == "http://192.168.1.20:9000/join?room=ACDE"
    monkeypatch.setenv(join.PUBLIC_URL_ENV, "https://demo.example.org/mnist/")
    assert join.join_url("ACDE", 8501) == "https://demo.example.org/mnist/join?room=ACDE"
    monkeypatch.delenv(join.PUBLIC_URL_ENV)
    for local in ("127.0.0.1", "localhost", "[::1]"):  # not reachable: use the LAN address
        assert "127.0.0.1" not in join.join_url("ACDE", 8501, local)
        assert "localhost" not in join.join_url("ACDE", 8501, local) or addr is None


def test_qr_code_is_inline_svg_that_encodes_the_url() -> None:
    svg = join.qr_svg("http://192.168.1.20:8501/join?room=ACDE")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<path" in svg
    assert "href" not in svg  # nothing fetched from anywhere
    assert svg != join.qr_svg("http://192.168.1.20:8501/join?room=ACDF")


def run_cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_models", "room", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"MNIST_APP_HOME": str(home), "PATH": "/usr/bin:/bin", **env},
    )


@pytest.mark.slow  # three command lines, each a fresh interpreter (about 10 s)
def test_cli_lists_exports_and_imports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    s = store.open_store(home / "rooms.sqlite3")
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
    s2 = store.open_store(other / "rooms.sqlite3")
    assert [d.label for d in s2.drawings(code)] == [0, 1, 2]
    s2.close()


@pytest.mark.slow  # command lines, each a fresh interpreter, on PostgreSQL (about 10 s)
def test_cli_uses_the_database_in_mnist_room_db_or_store(postgres, tmp_path: Path) -> None:
    url = postgres.new_database()
    s = store.open_store(url)
    code = s.create_room("On the server").code
    send(s, code, "p1", label=4, now=1.0)
    s.close()
    r = run_cli("list", home=tmp_path, MNIST_ROOM_DB=url)
    assert r.returncode == 0 and code in r.stdout and " 1 drawings  On the server" in r.stdout
    assert not (tmp_path / "rooms.sqlite3").exists()  # nothing written to the app home
    out = tmp_path / "room.zip"
    r = run_cli("--store", url, "export", code, "--out", str(out), home=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("import", str(out), home=tmp_path / "laptop")
    assert r.returncode == 0 and f"imported room {code} (open, 1 drawings)" in r.stdout


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
def test_cli_bad_input_is_one_line_and_status_2(tmp_path: Path, monkeypatch, args) -> None:
    # In this interpreter: each line is refused before any work (tests/helpers.run_here).
    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_ROOM_DB", raising=False)
    r = run_here("room", *args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_damaged_store_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "rooms.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(rules.StoreUnavailable, match="cannot be opened"):
        store.open_store(bad)
    r = run_cli("list", home=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_short_lived_threads_do_not_pile_up_connections(tmp_path: Path) -> None:
    # A web server runs every script run in a fresh thread.
    s = store.open_store(tmp_path / "rooms.sqlite3")
    code = s.create_room().code
    threads = [threading.Thread(target=s.get_room, args=(code,)) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool = s.backend.engine.pool
    assert pool.checkedout() == 0 and pool.checkedin() <= pool.size()
    s.close()


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
            assert rules.stored_strokes(text) == text
        except RoomError as exc:
            assert str(exc).endswith(".") and "\n" not in str(exc)

    check()
