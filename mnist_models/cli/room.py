"""`python -m mnist_models room {list,open,export,import}`: audience rooms from a terminal."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from mnist_models import files
from mnist_models.rooms import archive, exchange, rules
from mnist_models.rooms import store as room_store

# The store logs its failures for a server's log; here _fail prints them, on one line.
logging.getLogger("mnist_models.rooms").addHandler(logging.NullHandler())


def _fail(message: str | rules.RoomError) -> None:
    if isinstance(message, rules.StoreUnavailable):
        message = message.full()  # whoever runs the command runs the store: where and why
    sys.stderr.write(f"mnist_models room: error: {message}\n")
    sys.exit(2)


def _store(a: argparse.Namespace) -> room_store.Rooms:
    try:
        return room_store.open_store(a.store)
    except rules.RoomError as exc:  # an unreadable file, an unreachable database: one line
        _fail(exc)
        raise  # unreachable


def cmd_list(a: argparse.Namespace) -> None:
    store = _store(a)
    try:
        found = store.list_rooms()
        if not found:
            print("No rooms yet: open one on the wall page or with `room open`.")
        for r in found:
            n = len(store.drawings(r.code, include_hidden=True))
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
            print(
                f"{r.code}  {r.state:<6}  {when}  {store.participants(r.code):>4} people  "
                f"{n:>5} drawings  {r.title}"
            )
    except rules.RoomError as exc:
        _fail(exc)
    except Exception as exc:
        _fail(f"cannot read the room store: {exc}")
    finally:
        store.close()


def cmd_open(a: argparse.Namespace) -> None:
    store = _store(a)
    try:
        if a.code:
            room = store.set_state(a.code, "open")
        else:
            room = store.create_room(a.title or "")
    except rules.RoomError as exc:
        _fail(exc)
    finally:
        store.close()
    print(f"{room.code}  open  {room.title}")


def cmd_export(a: argparse.Namespace) -> None:
    out: Path = a.out
    if out.suffix != ".zip":
        _fail(f"--out must end in .zip, not {out}")
    if out.is_dir() or not out.parent.is_dir():
        _fail(f"cannot write {out}: not a file in an existing folder")
    store = _store(a)
    try:
        data = exchange.export_room(store, a.code)
    except rules.RoomError as exc:
        _fail(exc)
    finally:
        store.close()
    try:
        files.atomic_write(out, data)  # a temporary file and a rename: whole or not at all
    except OSError as exc:  # a read-only mount, a full disk, no permission
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"exported room {rules.clean_code(a.code)} to {out} ({len(data):,} bytes)")


def cmd_import(a: argparse.Namespace) -> None:
    try:
        # Checked before the store is opened: a refused file leaves no trace in it.
        room_data, drawings = exchange.read_export(archive.read_file(a.file))
    except rules.RoomError as exc:
        _fail(exc)
    store = _store(a)
    try:
        room = store.import_room(room_data, drawings)
        n = len(store.drawings(room.code, include_hidden=True))
    except rules.RoomError as exc:
        _fail(exc)
    finally:
        store.close()
    print(f"imported room {room.code} ({room.state}, {n} drawings): {room.title}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `room` and its subcommands to the main command line's subparsers."""
    r = sub.add_parser("room", help="audience rooms: list, open, export, import")
    r.add_argument(
        "--store",
        default=None,
        help="the room database: an SQLite file or a postgresql+psycopg:// URL "
        f"(default: ${room_store.STORE_ENV}, else <app home>/rooms.sqlite3)",
    )
    rs = r.add_subparsers(dest="room_command", required=True, parser_class=type(r))

    ls = rs.add_parser("list", help="the rooms, newest first")
    ls.set_defaults(func=cmd_list)

    op = rs.add_parser("open", help="open a new room (or reopen one with --code)")
    op.add_argument("--title", default=None)
    op.add_argument("--code", default=None, help="reopen this room")
    op.set_defaults(func=cmd_open)

    ex = rs.add_parser("export", help="a room's drawings as one zip (npz + JSON)")
    ex.add_argument("code")
    ex.add_argument("--out", type=Path, required=True, help="the zip to write")
    ex.set_defaults(func=cmd_export)

    im = rs.add_parser("import", help="read an exported room into the store")
    im.add_argument("file", type=Path)
    im.set_defaults(func=cmd_import)
