"""The persistence interface under the room rules: a ``Backend`` keeps rows, nothing more.

``store.Rooms`` applies every rule (states, limits, rate limits, checks) and asks a
Backend only to keep and find rows, one unit of work (``Tx``) per transaction, so every
database gets the same rules; ``sql.SQLBackend`` is the one on SQLite and PostgreSQL.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from mnist_models.rooms.rules import Drawing, Room


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

    def wrong_tries(self, client: str, cutoff: float) -> int:
        """How many unknown codes `client` tried in its window, if it began after `cutoff`."""
        ...

    def add_wrong_try(self, client: str, now: float, cutoff: float) -> None:
        """Count one more unknown code for `client` (from one, at `now`, if its window began
        at or before `cutoff`)."""
        ...

    def join(
        self,
        code: str,
        participant: str,
        nickname: str | None,
        now: float,
        client: str | None = None,
    ) -> None:
        """Insert the participant (made by `client`), or keep them and update a given
        nickname."""
        ...

    def is_participant(self, code: str, participant: str) -> bool:
        """Whether the participant has joined the room."""
        ...

    def new_participants(self, code: str, client: str, since: float) -> int:
        """How many participants `client` made in the room after `since`."""
        ...

    def nickname(self, code: str, participant: str) -> str | None:
        """The participant's nickname in the room, if any."""
        ...

    def take_address_turn(self, code: str, client: str, now: float, cutoff: float) -> bool:
        """Atomically set the address's last drawing in the room to `now` if it has none
        or it is at most `cutoff`; whether it was set."""
        ...

    def secret(self, name: str) -> str | None:
        """A shared secret of the deployment, or None."""
        ...

    def add_secret(self, name: str, value: str) -> None:
        """Keep a secret under `name` unless one is kept there already."""
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
        self,
        code: str,
        after: int,
        include_hidden: bool,
        limit: int | None,
        hidden_only: bool = False,
        newest_first: bool = False,
    ) -> list[Drawing]:
        """The room's drawings with id > after, oldest first (or newest first); only the
        hidden ones if `hidden_only`."""
        ...

    def hidden(self, code: str) -> list[tuple[int, str]]:
        """(id, participant) of each of the room's hidden drawings."""
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
