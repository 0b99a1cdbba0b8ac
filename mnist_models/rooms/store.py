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
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mnist_models import files
from mnist_models.rooms import people, rules
from mnist_models.rooms.backend import Backend, Tx
from mnist_models.rooms.rules import Drawing, Room, RoomError
from mnist_models.rooms.sql import SQLBackend

STORE_FILE = "rooms.sqlite3"
STORE_ENV = "MNIST_ROOM_DB"  # a database URL (or an SQLite file) instead of the default


class Rooms:
    """Rooms and drawings under the room rules; every method is safe from many threads."""

    def __init__(self, backend: Backend, limits: rules.AddressLimits | None = None) -> None:
        self.backend = backend
        self.limits = limits or rules.AddressLimits()
        self._secret: bytes | None = None
        self._secret_lock = threading.Lock()

    def participant_secret(self) -> bytes:
        """The key that signs participant ids: made once per store (whichever server asks
        first), kept in it, so every server of a deployment signs alike."""
        with self._secret_lock:
            if self._secret is None:
                with self.backend.writing() as tx:
                    tx.add_secret(people.SECRET_NAME, people.new_secret())
                    value = tx.secret(people.SECRET_NAME)
                assert value is not None  # written in this transaction, or before it
                self._secret = value.encode()
            return self._secret

    def new_participant(self) -> tuple[str, str]:
        """A new participant id and the signed token its browser keeps."""
        return people.new_token(self.participant_secret())

    def participant_of(self, token: object) -> str | None:
        """The participant id in a token this store signed; None for anything else."""
        return people.read_token(self.participant_secret(), token)

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

    def find_room(self, code: str, client: str) -> Room:
        """The room for a code a visitor typed or followed; an address that tried
        MAX_WRONG_CODES unknown codes within WRONG_CODE_WINDOW gets TooManyTries, whatever
        the code, until its window ends (a malformed code is a typo, never counted)."""
        code = rules.clean_code(code)
        client = rules.clean_client(client)
        now = time.time()
        cutoff = now - rules.WRONG_CODE_WINDOW
        with self.backend.reading() as tx:
            if tx.wrong_tries(client, cutoff) >= rules.MAX_WRONG_CODES:
                raise rules.too_many_tries()
            room = tx.room(code)
        if room is None:
            with self.backend.writing() as tx:
                tx.add_wrong_try(client, now, cutoff)
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

    def join(
        self,
        code: str,
        participant: str,
        nickname: str | None = None,
        client: str | None = None,
    ) -> None:
        """Count a participant in a room (idempotent); a new one made from `client`
        counts against its new participants a minute (TooManyNew past the limit)."""
        code = rules.clean_code(code)
        participant = rules.clean_participant(participant)
        nickname = rules.clean_nickname(nickname)
        client = None if client is None else rules.clean_client(client)
        with self.backend.writing() as tx:
            if tx.room(code) is None:
                raise rules.not_found(code)
            self._join(tx, code, participant, nickname, client, time.time())

    def _join(
        self,
        tx: Tx,
        code: str,
        participant: str,
        nickname: str | None,
        client: str | None,
        now: float,
    ) -> None:
        cap = self.limits.new_per_minute
        if client is not None and cap and not tx.is_participant(code, participant):
            if tx.new_participants(code, client, now - rules.NEW_WINDOW) >= cap:
                raise rules.too_many_new()
        tx.join(code, participant, nickname, now, client)

    def nickname(self, code: str, participant: str) -> str | None:
        """The nickname the participant last gave in the room, if any."""
        code = rules.clean_code(code)
        participant = rules.clean_participant(participant)
        with self.backend.reading() as tx:
            return tx.nickname(code, participant)

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
        not_digit: bool | None = None,
        client: str | None = None,
    ) -> Drawing:
        """Store one drawing; RoomNotOpen, RateLimited or RoomError if refused. With the
        sender's `client` address, that address is held to its limits too: a drawing per
        limits.interval seconds, and new participants a minute, whatever ids it sends as."""
        code = rules.clean_code(code)
        participant = rules.clean_participant(participant)
        nickname = rules.clean_nickname(nickname)
        strokes = rules.stored_strokes(strokes)
        image = rules.check_image(image)
        label = rules.check_label(label)
        checked = rules.check_answers(answers)
        now = time.time() if now is None else rules.check_time(now)
        drawing = Drawing(
            0,
            code,
            now,
            participant,
            nickname,
            strokes,
            image,
            label,
            checked,
            bool(hidden),
            rules.check_flag(not_digit, "Not a digit"),
        )
        client = None if client is None else rules.clean_client(client)
        with self.backend.writing() as tx:
            rules.check_open(tx.room(code), code)
            self._join(tx, code, participant, nickname, client, time.time())
            # Turns are taken by conditional writes, not a read then a write, so two
            # servers sending for one participant (or address) at once cannot both get
            # through; a refusal rolls the whole unit back, the other turn with it.
            if not tx.take_turn(code, participant, now, rules.turn_cutoff(now)):
                raise rules.rate_limited()
            gap = self.limits.interval
            if client is not None and gap:
                if not tx.take_address_turn(code, client, now, now - gap):
                    raise rules.address_limited()
            return replace(drawing, id=tx.add_drawing(drawing))

    def drawings(
        self,
        code: str,
        after: int = 0,
        include_hidden: bool = False,
        limit: int | None = None,
        hidden_only: bool = False,
        newest_first: bool = False,
    ) -> list[Drawing]:
        """The room's drawings with id > after, oldest first (newest first if asked; the
        hidden ones alone if `hidden_only`)."""
        code = rules.clean_code(code)
        with self.backend.reading() as tx:
            return tx.drawings(
                code,
                int(after),
                include_hidden,
                None if limit is None else int(limit),
                hidden_only=hidden_only,
                newest_first=newest_first,
            )

    def hidden(self, code: str) -> dict[int, str]:
        """The room's hidden drawings: id -> the participant who sent it."""
        code = rules.clean_code(code)
        with self.backend.reading() as tx:
            return dict(tx.hidden(code))

    def set_hidden(self, code: str, drawing_id: int, hidden: bool = True) -> None:
        """Hide a drawing from the wall and the scoreboard (or show it again)."""
        code = rules.clean_code(code)
        with self.backend.writing() as tx:
            if not tx.set_hidden(code, int(drawing_id), bool(hidden)):
                raise RoomError(f"Room {code} has no drawing {drawing_id}.")
            tx.bump_revision(code)

    @staticmethod
    def _checked(drawings: Sequence[Drawing], code: str) -> list[Drawing]:
        """Imported drawings under the same checks as sent ones (their own times)."""
        return [
            replace(
                d,
                room=code,
                created=rules.check_time(d.created),
                participant=rules.clean_participant(d.participant),
                nickname=rules.clean_nickname(d.nickname),
                strokes=rules.stored_strokes(d.strokes),
                image=rules.check_image(d.image),
                label=rules.check_label(d.label),
                answers=rules.check_answers(d.answers),
                hidden=bool(d.hidden),
                not_digit=rules.check_flag(d.not_digit, "Not a digit"),
            )
            for d in drawings
        ]

    @staticmethod
    def _add_imported(tx: Tx, code: str, drawings: Sequence[Drawing]) -> None:
        for d in drawings:
            tx.join(code, d.participant, d.nickname, d.created)
            tx.add_drawing(replace(d, room=code))

    def import_drawings(self, code: str, drawings: Sequence[Drawing]) -> None:
        """Add drawings with their own times (no rate limit), all or none."""
        code = rules.clean_code(code)
        checked = self._checked(drawings, code)
        with self.backend.writing() as tx:
            if tx.room(code) is None:
                raise rules.not_found(code)
            self._add_imported(tx, code, checked)

    def import_room(self, room: Room, drawings: Sequence[Drawing]) -> Room:
        """A whole exported room: its code if free (else a new one), title, state, creation
        time and drawings, in one transaction: a refused or killed import leaves nothing."""
        title = rules.clean_title(room.title)
        state = rules.check_state(room.state)
        created = rules.check_time(room.created)
        try:
            wanted = [rules.clean_code(room.code)] if room.code else []
        except rules.RoomNotFound:  # not a code this app makes: the room gets a new one
            wanted = []
        checked = self._checked(drawings, "")
        with self.backend.writing() as tx:
            for code in wanted + [rules.new_code() for _ in range(200)]:
                made = Room(code, title or f"Room {code}", state, created)
                if tx.add_room(made):
                    break
            else:
                raise RoomError("No free room code is left: delete old rooms.")
            self._add_imported(tx, made.code, checked)
        return made

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
    """A new handle on a store: `where` (an SQLite file or a database URL), else store_url();
    its per-address limits from the environment (rules.address_limits)."""
    limits = rules.address_limits(os.environ)
    return Rooms(SQLBackend(where or store_url()), limits)


@functools.cache
def shared_store(where: str) -> Rooms:
    """One handle per store for the whole process (the web server's sessions share it)."""
    return open_store(where)
