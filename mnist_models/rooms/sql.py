"""The rooms' rows in SQLite or PostgreSQL, through SQLAlchemy Core: the same code on both.

A ``backend.Backend``: it keeps and finds rows; the room rules are ``store.Rooms``'.
Each process has one engine (and connection pool) per database URL, shared by every
store handle on it. SQLite keeps its file in WAL mode with a busy timeout and foreign
keys on, and takes a write transaction at once (BEGIN IMMEDIATE) so writers queue
instead of failing; PostgreSQL runs each unit of work in one READ COMMITTED
transaction, where the conditional UPDATE of the rate limit re-checks the row it waited
for. Opening a store creates or upgrades its tables (``schema``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from mnist_models.rooms import rules, schema
from mnist_models.rooms.rules import Drawing, Room, StoreUnavailable
from mnist_models.rooms.schema import code_tries, drawings, participants, rooms, secrets, senders

BUSY_TIMEOUT = 15.0  # seconds an SQLite writer waits for another one
POOL_SIZE = 8  # connections kept open per engine
MAX_OVERFLOW = 16  # more while many run at once; past that, wait for one to come back
_WRITE = "mnist_rooms_write"  # execution option: this unit of work writes
# Serialises creating and upgrading the tables between servers sharing a PostgreSQL
# database (SQLite's BEGIN IMMEDIATE already does).
_SCHEMA_LOCK = 0x6D6E_6973_7472_6F6F  # "mnistroo"
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}  # for ON CONFLICT
# libpq's settings for a database that stops answering (its machine or the network gone):
# a Send gets its sentence after seconds, not the minutes TCP would try for, and a dead
# peer under a connection in use is noticed. The URL's own parameters win.
PG_CONNECT = {
    "connect_timeout": 5,  # seconds to reach the server and hear back
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,  # ms that sent data may stay unacknowledged
}

log = logging.getLogger(__name__)
CANNOT_OPEN = "The room store cannot be opened: tell the presenter (the server's log says why)."
CANNOT_USE = "The room store cannot be used right now: try again in a moment."

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def database_url(where: Path | str) -> sa.URL:
    """A path (an SQLite file) or a database URL -> the SQLAlchemy URL; StoreUnavailable if
    it is neither SQLite nor PostgreSQL."""
    text = str(where).strip()
    if "://" not in text:
        return sa.URL.create("sqlite", database=str(Path(text)))
    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError) as exc:  # the text may hold a password: not shown
        raise _unavailable(
            CANNOT_OPEN, f"the room store's address is not a database URL: {exc}"
        ) from None
    if url.drivername == "postgresql":  # plain postgresql:// means the driver installed
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in _INSERTS or (url.drivername == "sqlite" and not url.database):
        raise _unavailable(
            CANNOT_OPEN,
            "the room store is an SQLite file or a postgresql+psycopg:// URL, "
            f"not {url.render_as_string(hide_password=True)}",
        )
    return url


def engine(url: sa.URL) -> sa.Engine:
    """This process's one engine (and connection pool) for the database at `url`."""
    key = url.render_as_string(hide_password=False)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = _make_engine(url)
        return _engines[key]


def _make_engine(url: sa.URL) -> sa.Engine:
    pool = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, "poolclass": sa.QueuePool}
    if url.get_backend_name() == "postgresql":
        # pre_ping: a connection left from before a database restart is replaced, not used.
        connect = {k: v for k, v in PG_CONNECT.items() if k not in url.query}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect, **pool)
    made = sa.create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False}, **pool
    )
    event.listen(made, "connect", _sqlite_connect)
    event.listen(made, "begin", _sqlite_begin)
    return made


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The driver begins no transactions of its own: _sqlite_begin does, so a reader's
    # snapshot and a writer's lock both last the whole unit of work.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: survives an app crash
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # IMMEDIATE takes the write lock first (waiting up to the busy timeout), so a
    # writer never fails half-way when another one got there first.
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _unavailable(message: str, detail: str) -> StoreUnavailable:
    """The error for pages (no path, no server) with its detail in the server's log."""
    log.warning("%s (%s)", message, detail)
    return StoreUnavailable(message, detail)


def _reason(exc: BaseException) -> str:
    """The driver's message on one line, without SQLAlchemy's links."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


_PREPARED: dict[tuple[str, str], sa.Executable] = {}  # (dialect, name) -> statement


class _Tx:
    """backend.Tx on one connection inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._insert = _INSERTS[conn.dialect.name]

    @staticmethod
    def _room(row: sa.Row) -> Room:
        return Room(row.code, row.title, row.state, float(row.created), int(row.revision))

    def room(self, code: str) -> Room | None:
        row = self.conn.execute(self._prepared("room"), {"v_code": code}).first()
        return None if row is None else self._room(row)

    def rooms(self) -> list[Room]:
        rows = self.conn.execute(sa.select(rooms).order_by(rooms.c.created.desc()))
        return [self._room(r) for r in rows]

    def add_room(self, room: Room) -> bool:
        stmt = self._insert(rooms).values(
            code=room.code,
            title=room.title,
            state=room.state,
            created=room.created,
            revision=room.revision,
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["code"])
        # An INSERT's row count is kept only when asked for (psycopg drops it otherwise).
        return self.conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount == 1

    def set_state(self, code: str, state: str) -> bool:
        stmt = sa.update(rooms).where(rooms.c.code == code).values(state=state)
        return self.conn.execute(stmt).rowcount == 1

    def bump_revision(self, code: str) -> None:
        stmt = sa.update(rooms).where(rooms.c.code == code).values(revision=rooms.c.revision + 1)
        self.conn.execute(stmt)

    def wrong_tries(self, client: str, cutoff: float) -> int:
        q = sa.select(code_tries.c.tries).where(
            code_tries.c.client == client, code_tries.c.since > cutoff
        )
        return int(self.conn.execute(q).scalar() or 0)

    def add_wrong_try(self, client: str, now: float, cutoff: float) -> None:
        stale = code_tries.c.since <= cutoff  # the window is over: count again from one
        stmt = self._insert(code_tries).values(client=client, since=now, tries=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["client"],
            set_={
                "tries": sa.case((stale, 1), else_=code_tries.c.tries + 1),
                "since": sa.case((stale, now), else_=code_tries.c.since),
            },
        )
        self.conn.execute(stmt)

    def secret(self, name: str) -> str | None:
        q = sa.select(secrets.c.value).where(secrets.c.name == name)
        return self.conn.execute(q).scalar()

    def add_secret(self, name: str, value: str) -> None:
        stmt = self._insert(secrets).values(name=name, value=value)
        self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))

    def is_participant(self, code: str, participant: str) -> bool:
        params = {"v_room": code, "v_participant": participant}
        return self.conn.execute(self._prepared("is-participant"), params).first() is not None

    def new_participants(self, code: str, client: str, since: float) -> int:
        q = (
            sa.select(sa.func.count())
            .select_from(participants)
            .where(
                participants.c.room == code,
                participants.c.address == client,
                participants.c.joined > since,
            )
        )
        return int(self.conn.execute(q).scalar_one())

    def nickname(self, code: str, participant: str) -> str | None:
        q = sa.select(participants.c.nickname).where(
            participants.c.room == code, participants.c.participant == participant
        )
        return self.conn.execute(q).scalar()

    def _prepared(self, name: str) -> sa.Executable:
        """One of the statements every Send (and a phone's look at its room) runs, built once
        per dialect with bound parameters: building an upsert anew (its `excluded` columns
        most of all) cost more than running it, and a plain select about as much."""
        key = (self.conn.dialect.name, name)
        stmt = _PREPARED.get(key)
        if stmt is None:
            p = sa.bindparam
            if name == "room":
                stmt = sa.select(rooms).where(rooms.c.code == p("v_code"))
            elif name == "is-participant":
                stmt = sa.select(participants.c.joined).where(
                    participants.c.room == p("v_room"),
                    participants.c.participant == p("v_participant"),
                )
            elif name == "take-turn":
                last = participants.c.last_drawing
                stmt = (
                    sa.update(participants)
                    .where(
                        participants.c.room == p("v_room"),
                        participants.c.participant == p("v_participant"),
                        sa.or_(last.is_(None), last <= p("v_cutoff")),
                    )
                    .values(last_drawing=p("v_now"))
                )
            elif name == "add-drawing":  # the values are the columns' names
                stmt = sa.insert(drawings)
            elif name == "address-turn":
                stmt = self._insert(senders).values(
                    room=p("v_room"), client=p("v_client"), last_drawing=p("v_now")
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["room", "client"],
                    set_={"last_drawing": p("v_now")},
                    where=senders.c.last_drawing <= p("v_cutoff"),
                ).execution_options(preserve_rowcount=True)
            else:  # "join"
                stmt = self._insert(participants).values(
                    room=p("v_room"),
                    participant=p("v_participant"),
                    nickname=p("v_nickname"),
                    joined=p("v_now"),
                    address=p("v_client"),
                )
                keep = sa.func.coalesce(stmt.excluded.nickname, participants.c.nickname)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["room", "participant"], set_={"nickname": keep}
                )
            _PREPARED[key] = stmt
        return stmt

    def take_address_turn(self, code: str, client: str, now: float, cutoff: float) -> bool:
        params = {"v_room": code, "v_client": client, "v_now": now, "v_cutoff": cutoff}
        return self.conn.execute(self._prepared("address-turn"), params).rowcount == 1

    def join(
        self,
        code: str,
        participant: str,
        nickname: str | None,
        now: float,
        client: str | None = None,
    ) -> None:
        params = {
            "v_room": code,
            "v_participant": participant,
            "v_nickname": nickname,
            "v_now": now,
            "v_client": client,
        }
        self.conn.execute(self._prepared("join"), params)

    def participants(self, code: str) -> int:
        count = sa.select(sa.func.count()).select_from(participants)
        return int(self.conn.execute(count.where(participants.c.room == code)).scalar_one())

    def take_turn(self, code: str, participant: str, now: float, cutoff: float) -> bool:
        params = {"v_room": code, "v_participant": participant, "v_now": now, "v_cutoff": cutoff}
        return self.conn.execute(self._prepared("take-turn"), params).rowcount == 1

    def add_drawing(self, d: Drawing) -> int:
        values = {
            "room": d.room,
            "created": d.created,
            "participant": d.participant,
            "nickname": d.nickname,
            "strokes": d.strokes,
            "image": d.image,
            "label": d.label,
            "answers": rules.answers_json(d.answers),
            "hidden": d.hidden,
            "not_digit": d.not_digit,
        }
        return int(self.conn.execute(self._prepared("add-drawing"), values).inserted_primary_key[0])

    def drawings(
        self,
        code: str,
        after: int,
        include_hidden: bool,
        limit: int | None,
        hidden_only: bool = False,
        newest_first: bool = False,
    ) -> list[Drawing]:
        q = sa.select(drawings).where(drawings.c.room == code, drawings.c.id > after)
        if hidden_only:
            q = q.where(drawings.c.hidden == sa.true())
        elif not include_hidden:
            q = q.where(drawings.c.hidden == sa.false())
        q = q.order_by(drawings.c.id.desc() if newest_first else drawings.c.id)
        if limit is not None:
            q = q.limit(limit)
        return [
            Drawing(
                int(r.id),
                r.room,
                float(r.created),
                r.participant,
                r.nickname,
                r.strokes,
                bytes(r.image),
                None if r.label is None else int(r.label),
                rules.answers_from_json(r.answers),
                bool(r.hidden),
                None if r.not_digit is None else bool(r.not_digit),
            )
            for r in self.conn.execute(q)
        ]

    def hidden(self, code: str) -> list[tuple[int, str]]:
        q = sa.select(drawings.c.id, drawings.c.participant).where(
            drawings.c.room == code, drawings.c.hidden == sa.true()
        )
        return [(int(r.id), r.participant) for r in self.conn.execute(q)]

    def set_hidden(self, code: str, drawing_id: int, hidden: bool) -> bool:
        stmt = (
            sa.update(drawings)
            .where(drawings.c.id == drawing_id, drawings.c.room == code)
            .values(hidden=hidden)
        )
        return self.conn.execute(stmt).rowcount == 1


class SQLBackend:
    """backend.Backend on an SQLite file or a PostgreSQL database; many threads at once."""

    def __init__(self, where: Path | str) -> None:
        url = database_url(where)
        self.url = url
        sqlite_file = url.get_backend_name() == "sqlite"
        self.where = url.database if sqlite_file else url.render_as_string(hide_password=True)
        try:
            if sqlite_file:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = engine(url)
            with self._unit(write=True) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                schema.upgrade(conn)
        except (sa.exc.SQLAlchemyError, OSError, ImportError) as exc:  # ImportError: no driver
            raise _unavailable(CANNOT_OPEN, f"{self.where}: {_reason(exc)}") from exc

    @contextlib.contextmanager
    def _unit(self, write: bool) -> Iterator[sa.Connection]:
        """A connection inside one transaction: committed when the block ends, else rolled
        back."""
        with self.engine.connect() as conn:
            with conn.execution_options(**{_WRITE: write}).begin():
                yield conn

    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[_Tx]:
        try:
            with self._unit(write) as conn:
                yield _Tx(conn)
        except sa.exc.SQLAlchemyError as exc:  # locked, full, damaged or unreachable
            raise _unavailable(CANNOT_USE, f"{self.where}: {_reason(exc)}") from exc

    def reading(self) -> contextlib.AbstractContextManager[_Tx]:
        """A unit of work that only reads (on SQLite one snapshot, never waiting for writers)."""
        return self._tx(write=False)

    def writing(self) -> contextlib.AbstractContextManager[_Tx]:
        """A unit of work that writes, committed whole or not at all."""
        return self._tx(write=True)

    def close(self) -> None:
        """Close the pooled connections; the store opens new ones if used again."""
        self.engine.dispose()
