"""The room store: the room rules (``Rooms``) over a thin persistence interface (``Backend``).

``Rooms`` is what pages and the command line use. It checks every input and applies
the room's rules (states, the rate limit, labels, answers) in one place, and asks a
``Backend`` only to keep and find rows, one transaction per unit of work, so every
database gets the same rules. ``open_store()`` and ``shared_store()`` make the default
store: ``$MNIST_ROOM_DB`` (a ``postgresql+psycopg://`` URL puts rooms in PostgreSQL),
else an SQLite file under the app home, with nothing to start or set up.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from mnist_models import files
from mnist_models.rooms import rules
from mnist_models.rooms.rules import Drawing, Room, RoomError
from mnist_models.rooms.sql import SQLBackend

STORE_FILE = "rooms.sqlite3"
STORE_ENV = "MNIST_ROOM_DB"  # a database URL (or an SQLite file) instead of the default


class Tx(Protocol):
    """One unit of work on the database: plain reads and writes of rows, no rules."""

    def room(self, code: str) -> Room | None:
        """The room with this (canonical) code, or None."""
        ...

    def rooms(self) -> list[Room]:
        """Every room, newest first."""
        ...

    def add_room(self, room: Room) -> bool:
        """Insert the room; False (and nothing written) when its code is taken."""
        ...

    def set_state(self, code: str, state: str) -> bool:
        """Set the room's state; False when there is no such room."""
        ...

    def bump_revision(self, code: str) -> None:
        """Add one to the room's revision."""
        ...

    def join(self, code: str, participant: str, nickname: str | None, now: float) -> None:
        """Insert the participant, or keep them and update a given nickname."""
        ...

    def participants(self, code: str) -> int:
        """How many participants the room has."""
        ...

    def take_turn(self, code: str, participant: str, now: float, cutoff: float) -> bool:
        """Atomically set the joined participant's last drawing time to `now` if it is
        unset or at most `cutoff`; whether it was set."""
        ...

    def add_drawing(self, drawing: Drawing) -> int:
        """Insert the drawing (its id is ignored); its new id."""
        ...

    def drawings(
        self, code: str, after: int, include_hidden: bool, limit: int | None
    ) -> list[Drawing]:
        """The room's drawings with id > after, oldest first."""
        ...

    def set_hidden(self, code: str, drawing_id: int, hidden: bool) -> bool:
        """Set a drawing's hidden flag; False when the room has no such drawing."""
        ...


class Backend(Protocol):
    """Where the rows live. Safe to use from many threads; its failures are StoreUnavailable."""

    where: str  # for messages: a path or a URL without its password

    def reading(self) -> AbstractContextManager[Tx]:
        """A unit of work that only reads."""
        ...

    def writing(self) -> AbstractContextManager[Tx]:
        """A unit of work that writes: committed whole when the block ends, else rolled back."""
        ...

    def close(self) -> None:
        """Release connections (the backend can still be used afterwards)."""
        ...


class Rooms:
    """Rooms and drawings under the room rules; every method is safe from many threads."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def create_room(self, title: str = "", code: str | None = None) -> Room:
        """A new open room with a fresh code (or the given one, if free)."""
        title = rules.clean_title(title)
        wanted = None if code is None else rules.clean_code(code)
        with self.backend.writing() as tx:
            for _ in range(1 if wanted else 200):
                new = wanted or rules.new_code()
                room = Room(new, title or f"Room {new}", "open", time.time())
                if tx.add_room(room):
                    return room
        if wanted:
            raise RoomError(f"Room {wanted} already exists.")
        raise RoomError("No free room code is left: delete old rooms.")

    def get_room(self, code: str) -> Room:
        """The room; RoomNotFound for a malformed or unknown code."""
        code = rules.clean_code(code)
        with self.backend.reading() as tx:
            room = tx.room(code)
        if room is None:
            raise rules.not_found(code)
        return room

    def list_rooms(self) -> list[Room]:
        """Every room, newest first."""
        with self.backend.reading() as tx:
            return tx.rooms()

    def set_state(self, code: str, state: str) -> Room:
        """Open, pause, close or reopen a room."""
        state = rules.check_state(state)
        code = rules.clean_code(code)
        with self.backend.writing() as tx:
            if not tx.set_state(code, state):
                raise rules.not_found(code)
            room = tx.room(code)
        assert room is not None  # just written in this transaction
        return room

    def join(self, code: str, participant: str, nickname: str | None = None) -> None:
        """Count a participant in a room (idempotent)."""
        code = rules.clean_code(code)
        participant = rules.clean_participant(participant)
        nickname = rules.clean_nickname(nickname)
        with self.backend.writing() as tx:
            if tx.room(code) is None:
                raise rules.not_found(code)
            tx.join(code, participant, nickname, time.time())

    def participants(self, code: str) -> int:
        """How many participants have joined the room."""
        code = rules.clean_code(code)
        with self.backend.reading() as tx:
            return tx.participants(code)

    def add_drawing(
        self,
        code: str,
        participant: str,
        image: bytes,
        strokes: str,
        answers: dict[str, Any],
        label: int | None = None,
        nickname: str | None = None,
        now: float | None = None,
        hidden: bool = False,
    ) -> Drawing:
        """Store one drawing; RoomNotOpen, RateLimited or RoomError if refused."""
        code = rules.clean_code(code)
        participant = rules.clean_participant(participant)
        nickname = rules.clean_nickname(nickname)
        strokes = rules.stored_strokes(strokes)
        image = rules.check_image(image)
        label = rules.check_label(label)
        checked = rules.check_answers(answers)
        now = time.time() if now is None else float(now)
        drawing = Drawing(
            0, code, now, participant, nickname, strokes, image, label, checked, bool(hidden)
        )
        with self.backend.writing() as tx:
            rules.check_open(tx.room(code), code)
            tx.join(code, participant, nickname, time.time())
            # The turn is taken by a conditional write, not a read then a write, so two
            # servers sending for one participant at once cannot both get through.
            if not tx.take_turn(code, participant, now, rules.turn_cutoff(now)):
                raise rules.rate_limited()
            return replace(drawing, id=tx.add_drawing(drawing))

    def drawings(
        self, code: str, after: int = 0, include_hidden: bool = False, limit: int | None = None
    ) -> list[Drawing]:
        """The room's drawings with id > after, oldest first."""
        code = rules.clean_code(code)
        with self.backend.reading() as tx:
            return tx.drawings(
                code, int(after), include_hidden, None if limit is None else int(limit)
            )

    def set_hidden(self, code: str, drawing_id: int, hidden: bool = True) -> None:
        """Hide a drawing from the wall and the scoreboard (or show it again)."""
        code = rules.clean_code(code)
        with self.backend.writing() as tx:
            if not tx.set_hidden(code, int(drawing_id), bool(hidden)):
                raise RoomError(f"Room {code} has no drawing {drawing_id}.")
            tx.bump_revision(code)

    def import_drawings(self, code: str, drawings: Sequence[Drawing]) -> None:
        """Add drawings with their own times (no rate limit), all or none."""
        code = rules.clean_code(code)
        checked = [
            replace(
                d,
                room=code,
                participant=rules.clean_participant(d.participant),
                nickname=rules.clean_nickname(d.nickname),
                strokes=rules.stored_strokes(d.strokes),
                image=rules.check_image(d.image),
                label=rules.check_label(d.label),
                answers=rules.check_answers(d.answers),
                hidden=bool(d.hidden),
            )
            for d in drawings
        ]
        with self.backend.writing() as tx:
            if tx.room(code) is None:
                raise rules.not_found(code)
            for d in checked:
                tx.join(code, d.participant, d.nickname, time.time())
                tx.add_drawing(d)

    def close(self) -> None:
        """Release connections."""
        self.backend.close()


# ---------------------------------------------------------------- the default store


def store_path() -> Path:
    """Where the default SQLite store lives: <app home>/rooms.sqlite3."""
    return files.home() / STORE_FILE


def store_url() -> str:
    """The store this app uses: $MNIST_ROOM_DB if set, else the SQLite file under the app home."""
    return os.environ.get(STORE_ENV, "").strip() or str(store_path())


def open_store(where: Path | str | None = None) -> Rooms:
    """A new handle on a store: `where` (an SQLite file or a database URL), else store_url()."""
    return Rooms(SQLBackend(where or store_url()))


@functools.cache
def shared_store(where: str) -> Rooms:
    """One handle per store for the whole process (the web server's sessions share it)."""
    return open_store(where)
