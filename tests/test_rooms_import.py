"""`room import` and `room export` against hostile and broken files: sizes checked before
reading, strict types and finite values, all or nothing, one line and exit 2."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import can_mount_read_only, cli_under_memory_limit, run_with_read_only

from mnist_models.rooms import archive, exchange, rules
from mnist_models.rooms import store as room_store
from mnist_models.rooms.rules import Answer, RoomError

ROOT = Path(__file__).resolve().parent.parent


def probs(digit: int) -> tuple[float, ...]:
    return tuple(0.91 if d == digit else 0.01 for d in range(10))


def filled_store(where: str, n: int = 3, title: str = "Exported", created: float | None = None):
    s = room_store.open_store(where)
    room = s.create_room(title)
    for i in range(n):
        s.add_drawing(
            room.code,
            f"p{i % 7}",
            bytes([i % 256]) * 784,
            "[[[1,2],[3,4.5]]]",
            {"mlp": Answer(probs(i % 10), "shipped/mlp"), "cnn": Answer(probs(3), "shipped/cnn")},
            label=i % 10,
            nickname=f"n{i}",
            now=1000.0 + 2 * i,
        )
    return s, room


@pytest.fixture()
def export(tmp_path: Path) -> bytes:
    s, room = filled_store(str(tmp_path / "src.sqlite3"))
    data = exchange.export_room(s, room.code)
    s.close()
    return data


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(parts: dict[str, bytes | str], level: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", level) as z:
        for name, value in parts.items():
            z.writestr(name, value)
    return out.getvalue()


def with_json(data: bytes, edit) -> bytes:
    """The export with its room.json changed by edit(meta) (which may return text)."""
    parts = members(data)
    meta = json.loads(parts["room.json"])
    changed = edit(meta)
    parts["room.json"] = changed if isinstance(changed, str) else json.dumps(meta)
    return rezip(parts)


def npy_header(shape: tuple, descr: str = "|u1") -> bytes:
    """A .npy file's header alone, claiming this shape (no data follows)."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return out.getvalue()


def with_npz_member(data: bytes, name: str, raw: bytes) -> bytes:
    parts = members(data)
    inner = members(parts["room.npz"])
    inner[name] = raw
    parts["room.npz"] = rezip(inner)
    return rezip(parts)


def test_import_keeps_the_creation_time_title_state_and_hidden_marks(tmp_path: Path) -> None:
    s, room = filled_store(str(tmp_path / "a.sqlite3"), n=4, title="Tuesday")
    s.set_hidden(room.code, s.drawings(room.code)[1].id)
    s.set_state(room.code, "paused")
    data = exchange.export_room(s, room.code)
    s.close()
    time.sleep(0.05)
    fresh = room_store.open_store(str(tmp_path / "b.sqlite3"))
    back = exchange.import_room(fresh, data)
    assert (back.code, back.title, back.state) == (room.code, "Tuesday", "paused")
    assert back.created == room.created  # not the time of the import
    assert fresh.get_room(room.code).created == room.created
    got = fresh.drawings(room.code, include_hidden=True)
    assert [d.hidden for d in got] == [False, True, False, False]
    assert [d.nickname for d in got] == ["n0", "n1", "n2", "n3"]
    fresh.close()


def test_export_is_strict_json(export: bytes) -> None:
    def refuse(name: str):
        raise AssertionError(f"{name} in the export")

    meta = json.loads(members(export)["room.json"], parse_constant=refuse)
    assert meta["format"] == "mnist-room"


BAD_JSON = {
    "created NaN": (lambda m: m["drawings"][0].update(created=float("nan")), "strict JSON"),
    "created Infinity": (lambda m: m["drawings"][0].update(created=float("inf")), "strict JSON"),
    "created 1e999": (
        lambda m: json.dumps(m).replace('"created": 1000.0', '"created": 1e999', 1),
        "finite",
    ),
    "room created NaN": (lambda m: m["room"].update(created=float("nan")), "strict JSON"),
    "created as text": (lambda m: m["drawings"][0].update(created="1000"), "'created'"),
    "hidden as text": (lambda m: m["drawings"][0].update(hidden="false"), "'hidden'"),
    "participant a dict": (
        lambda m: m["drawings"][0].update(participant={"a": 1}),
        "'participant'",
    ),
    "nickname a list": (lambda m: m["drawings"][0].update(nickname=["x"]), "'nickname'"),
    "room a list": (lambda m: m.update(room=[1, 2]), "'room'"),
    "drawings a dict": (lambda m: m.update(drawings={}), "'drawings'"),
    "drawing a number": (lambda m: m["drawings"].__setitem__(0, 5), "not an object"),
    "state unknown": (lambda m: m["room"].update(state="deleted"), "open, paused or closed"),
    "title a number": (lambda m: m["room"].update(title=5), "'title'"),
    "versions not names": (lambda m: m["drawings"][0].update(versions={"mlp": 3}), "versions"),
    "version true": (lambda m: m.update(version=True), "not supported"),
    "label differs": (lambda m: m["drawings"][0].update(label=9), "label"),
    "negative time": (lambda m: m["drawings"][0].update(created=-5), "finite number"),
    "deep JSON": (lambda m: '{"a":' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    "long integer": (lambda m: '{"format": ' + "9" * 10_000 + "}", "strict JSON"),
    "not UTF-8": (lambda m: "\udcff", "UTF-8"),
    "too many drawings": (
        lambda m: m.update(drawings=[m["drawings"][0]] * (archive.MAX_DRAWINGS + 1)),
        "too large",
    ),
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_values_of_the_wrong_type_are_refused_and_leave_no_room(
    tmp_path: Path, export: bytes, case: str
) -> None:
    edit, words = BAD_JSON[case]
    if case == "not UTF-8":
        parts = members(export)
        parts["room.json"] = b"\xff\xfe{}"
        bad = rezip(parts)
    else:
        bad = with_json(export, edit)
    s = room_store.open_store(str(tmp_path / "rooms.sqlite3"))
    with pytest.raises(RoomError, match=words) as err:
        exchange.import_room(s, bad)
    assert "\n" not in str(err.value) and str(err.value).endswith(".")
    assert s.list_rooms() == []
    s.close()


def test_npy_headers_are_checked_before_anything_is_allocated(tmp_path: Path, export) -> None:
    s = room_store.open_store(str(tmp_path / "rooms.sqlite3"))
    cases = {
        "a trillion rows": npy_header((10**12, 28, 28)),
        "wrong dtype": npy_header((3, 28, 28), "<f8"),
        "objects": npy_header((3, 28, 28), "|O"),
        "cut short": npy_header((3, 28, 28)) + b"\x00" * 100,
        "no header": b"\x00" * 50,
    }
    for what, raw in cases.items():
        with pytest.raises(RoomError) as err:
            exchange.import_room(s, with_npz_member(export, "images.npy", raw))
        assert "\n" not in str(err.value), what
    assert s.list_rooms() == []
    s.close()


def bomb(size: int) -> bytes:
    """`size` zero bytes (deflated in a zip to about a thousandth of that)."""
    return bytes(size)


def test_zip_bombs_are_refused_by_their_declared_size(tmp_path: Path, export: bytes) -> None:
    parts = members(export)
    json_bomb = rezip({"room.json": bomb(archive.MAX_JSON_BYTES + 1), "room.npz": b""})
    inner = members(parts["room.npz"])
    inner["images.npy"] = npy_header((3, 28, 28)) + bomb(archive.MAX_NPZ_BYTES)
    npz_bomb = rezip({"room.json": parts["room.json"], "room.npz": rezip(inner)})
    many = rezip({**parts, **{f"x{i}": b"" for i in range(archive.MAX_MEMBERS)}})
    s = room_store.open_store(str(tmp_path / "rooms.sqlite3"))
    for bad, words in ((json_bomb, "too large"), (npz_bomb, "too large"), (many, "files")):
        assert len(bad) < 1_000_000
        with pytest.raises(RoomError, match=words):
            exchange.import_room(s, bad)
    assert s.list_rooms() == []
    s.close()


def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path) -> None:
    with pytest.raises(RoomError, match="not a regular file"):
        archive.read_file(Path("/dev/zero"))
    with pytest.raises(RoomError, match="not a regular file"):
        archive.read_file(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(RoomError, match="not a regular file"):
        archive.read_file(fifo)  # opening it does not wait for a writer
    sparse = tmp_path / "huge.zip"
    with open(sparse, "wb") as f:
        f.truncate(archive.MAX_FILE_BYTES + 1)
    with pytest.raises(RoomError, match="more than a room export may be"):
        archive.read_file(sparse)
    with pytest.raises(RoomError, match="Cannot read"):
        archive.read_file(tmp_path / "missing.zip")


TIME_BOUND = 30.0  # seconds for one file, on a shared 2-core machine


def import_under_limit(tmp_path: Path, paths: list[Path]) -> list[dict]:
    command = ["room", "--store", str(tmp_path / "imported.sqlite3"), "import", "{path}"]
    return cli_under_memory_limit(command, paths, setup="import mnist_models.rooms.exchange")


@pytest.mark.slow  # a child interpreter per file (about 2 s)
def test_hostile_files_get_one_line_and_status_2_under_a_memory_limit(
    tmp_path: Path, export: bytes
) -> None:
    parts = members(export)
    inner = members(parts["room.npz"])
    inner["images.npy"] = npy_header((3, 28, 28)) + bomb(100_000_000)  # 100 kB deflated
    files = {
        "zero.zip": None,  # /dev/zero itself
        "nested-npz-bomb.zip": rezip({"room.json": parts["room.json"], "room.npz": rezip(inner)}),
        "trillion-rows.zip": with_npz_member(export, "images.npy", npy_header((10**12, 28, 28))),
        "deep.zip": with_json(export, lambda m: "[" * 200_000 + "]" * 200_000),
        "room-list.zip": with_json(export, lambda m: m.update(room=[1, 2])),
        "nan.zip": with_json(export, lambda m: m["drawings"][0].update(created=float("nan"))),
        "garbage.zip": os.urandom(50_000),
    }
    paths = []
    for name, data in files.items():
        if data is None:
            paths.append(Path("/dev/zero"))
            continue
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    results = import_under_limit(tmp_path, paths)
    assert [r["path"] for r in results] == [str(p) for p in paths]
    for r in results:
        assert r["code"] == 2, r
        assert len(r["err"].strip().splitlines()) == 1 and "Traceback" not in r["err"], r
        assert r["s"] < TIME_BOUND, r


def test_any_file_is_imported_or_refused_in_one_line_under_a_memory_limit(
    tmp_path: Path, export: bytes
) -> None:
    """Random bytes, and exports with random bytes flipped, cut or spliced in: in the zip
    itself, in room.json, or in one of the npz's arrays (zipped again, so it gets past the
    zip's checksums)."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import strategies as hs

    def mutate(data: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
        b = bytearray(data)
        for at, new in edits:
            i = at % max(1, len(b))
            b[i : i + len(new)] = new
        return bytes(b if cut is None else b[: cut % (len(b) + 1)])

    parts = members(export)
    inner = members(parts["room.npz"])

    def changed(where: str, edits, cut) -> bytes:
        if where == "zip":
            return mutate(export, edits, cut)
        if where == "room.json":
            return rezip({**parts, "room.json": mutate(parts["room.json"], edits, cut)})
        npz = rezip({**inner, where: mutate(inner[where], edits, cut)})
        return rezip({**parts, "room.npz": npz})

    made: list[bytes] = []
    edits = hs.lists(
        hs.tuples(hs.integers(0, 10**6), hs.binary(min_size=1, max_size=8)), max_size=6
    )

    @hyp.settings(max_examples=80, deadline=None, database=None)
    @hyp.given(
        hs.one_of(
            hs.binary(max_size=4000),
            hs.builds(
                changed,
                hs.sampled_from(["zip", "room.json", *inner]),
                edits,
                hs.none() | hs.integers(0, 10**6),
            ),
        )
    )
    def collect(data: bytes) -> None:
        made.append(data)

    collect()
    paths = []
    for i, data in enumerate(made):
        p = tmp_path / f"random-{i}.zip"
        p.write_bytes(data)
        paths.append(p)
    results = import_under_limit(tmp_path, paths)
    assert len(results) == len(paths)
    for r in results:
        assert r["code"] in (0, 2), r  # imported (a harmless change), or refused
        if r["code"] == 2:
            assert len(r["err"].strip().splitlines()) == 1 and "Traceback" not in r["err"], r
        assert r["s"] < TIME_BOUND, r


KILLED_IMPORT = r"""
import sys
from mnist_models.rooms import exchange, store
s = store.open_store(sys.argv[1])
room, drawings = exchange.read_export(open(sys.argv[2], "rb").read())
print("importing", flush=True)
s.import_room(room, drawings)
print("done", flush=True)
"""


@pytest.mark.slow  # 3,000 drawings imported by child processes killed midway (about 25 s)
def test_a_killed_import_leaves_no_room_behind(tmp_path: Path, room_url: str) -> None:
    n = 3000
    src, room = filled_store(str(tmp_path / "src.sqlite3"), n=n)
    zipped = tmp_path / "big.zip"
    zipped.write_bytes(exchange.export_room(src, room.code))
    src.close()
    target = room_store.open_store(room_url)
    for delay in (0.0, 0.3):
        p = subprocess.Popen(
            [sys.executable, "-c", KILLED_IMPORT, room_url, str(zipped)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout.readline().strip() == "importing"
        # Kill as soon as the room is there (a half import would show it early), or
        # after `delay` seconds into the import.
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not target.list_rooms():
            time.sleep(0.005)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        for r in target.list_rooms():  # a room, if any, is whole
            assert len(target.drawings(r.code, include_hidden=True)) == n
    target.close()


@pytest.mark.slow  # a child interpreter in a private mount namespace (about 15 s)
def test_export_to_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    if not can_mount_read_only():
        pytest.skip("needs a private mount namespace (root and unshare) for a read-only mount")
    home = tmp_path / "home"
    s, room = filled_store(str(home / "rooms.sqlite3"))
    s.close()
    ro = tmp_path / "ro"
    ro.mkdir()
    command = f"{sys.executable} -m mnist_models room export {room.code} --out {ro}/room.zip"
    r = run_with_read_only(ro, command, env={"MNIST_APP_HOME": str(home)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mnist_models room: error: cannot write {ro}/room.zip: Read-only file system"
    ]


def test_an_export_with_a_code_this_app_does_not_make_gets_a_new_one(tmp_path, export) -> None:
    s = room_store.open_store(str(tmp_path / "rooms.sqlite3"))
    back = exchange.import_room(s, with_json(export, lambda m: m["room"].update(code="ZZZZ")))
    assert back.code != "ZZZZ" and len(s.drawings(back.code)) == 3
    assert rules.clean_code(back.code) == back.code
    s.close()
