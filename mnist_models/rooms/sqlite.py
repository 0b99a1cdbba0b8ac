"""The rooms' rows in one SQLite file: WAL, busy timeout, a pooled connection per unit of work.

A ``store.Backend``: it keeps and finds rows; the room rules are ``store.Rooms``'.
Connections come from a small pool: a web server runs each script run in a fresh
thread, so connections kept per thread would pile up, one per run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from mnist_models.rooms import rules
from mnist_models.rooms.rules import Drawing, Room, StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY, title TEXT NOT NULL, state TEXT NOT NULL,
    created REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS participants (
    room TEXT NOT NULL REFERENCES rooms(code), participant TEXT NOT NULL,
    nickname TEXT, joined REAL NOT NULL, last_drawing REAL,
    PRIMARY KEY (room, participant));
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL REFERENCES rooms(code),
    created REAL NOT NULL, participant TEXT NOT NULL, nickname TEXT,
    strokes TEXT NOT NULL, image BLOB NOT NULL, label INTEGER,
    answers TEXT NOT NULL, hidden INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS drawings_room ON drawings(room, id);
"""

_DRAWING_COLUMNS = (
    "id, room, created, participant, nickname, strokes, image, label, answers, hidden"
)


class _Tx:
    """store.Tx on one SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def room(self, code: str) -> Room | None:
        row = self.db.execute(
            "SELECT code, title, state, created, revision FROM rooms WHERE code=?", (code,)
        ).fetchone()
        return None if row is None else Room(*row)

    def rooms(self) -> list[Room]:
        rows = self.db.execute(
            "SELECT code, title, state, created, revision FROM rooms ORDER BY created DESC"
        ).fetchall()
        return [Room(*r) for r in rows]

    def add_room(self, room: Room) -> bool:
        cur = self.db.execute(
            "INSERT INTO rooms(code, title, state, created, revision) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(code) DO NOTHING",
            (room.code, room.title, room.state, room.created, room.revision),
        )
        return cur.rowcount == 1

    def set_state(self, code: str, state: str) -> bool:
        cur = self.db.execute("UPDATE rooms SET state=? WHERE code=?", (state, code))
        return cur.rowcount == 1

    def bump_revision(self, code: str) -> None:
        self.db.execute("UPDATE rooms SET revision=revision+1 WHERE code=?", (code,))

    def join(self, code: str, participant: str, nickname: str | None, now: float) -> None:
        self.db.execute(
            "INSERT INTO participants(room, participant, nickname, joined) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(room, participant) DO UPDATE SET "
            "nickname=COALESCE(excluded.nickname, nickname)",
            (code, participant, nickname, now),
        )

    def participants(self, code: str) -> int:
        sql = "SELECT COUNT(*) FROM participants WHERE room=?"
        return self.db.execute(sql, (code,)).fetchone()[0]

    def take_turn(self, code: str, participant: str, now: float, cutoff: float) -> bool:
        cur = self.db.execute(
            "UPDATE participants SET last_drawing=? WHERE room=? AND participant=? "
            "AND (last_drawing IS NULL OR last_drawing <= ?)",
            (now, code, participant, cutoff),
        )
        return cur.rowcount == 1

    def add_drawing(self, d: Drawing) -> int:
        cur = self.db.execute(
            "INSERT INTO drawings(room, created, participant, nickname, strokes, image, "
            "label, answers, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.room,
                d.created,
                d.participant,
                d.nickname,
                d.strokes,
                d.image,
                d.label,
                rules.answers_json(d.answers),
                int(d.hidden),
            ),
        )
        return int(cur.lastrowid)

    def drawings(
        self, code: str, after: int, include_hidden: bool, limit: int | None
    ) -> list[Drawing]:
        sql = f"SELECT {_DRAWING_COLUMNS} FROM drawings WHERE room=? AND id>?"
        if not include_hidden:
            sql += " AND hidden=0"
        sql += " ORDER BY id"
        args: tuple = (code, after)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [
            Drawing(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                bytes(r[6]),
                r[7],
                rules.answers_from_json(r[8]),
                bool(r[9]),
            )
            for r in self.db.execute(sql, args).fetchall()
        ]

    def set_hidden(self, code: str, drawing_id: int, hidden: bool) -> bool:
        cur = self.db.execute(
            "UPDATE drawings SET hidden=? WHERE id=? AND room=?", (int(hidden), drawing_id, code)
        )
        return cur.rowcount == 1


class SQLiteBackend:
    """store.Backend in one SQLite file: WAL, busy timeout, a connection per thread at a time."""

    POOL = 8  # idle connections kept

    def __init__(self, path: Path | str, busy_timeout: float = 15.0) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreUnavailable(f"The room store {self.path} cannot be opened ({exc}).") from exc

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE for writes, so
        # the rate-limit check and the insert cannot interleave, even across processes).
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: survives an app crash
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread for the block (from the pool, or a new one)."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = self._connect()
        try:
            yield db
        finally:
            with self._lock:
                keep = len(self._idle) < self.POOL
                if keep:
                    self._idle.append(db)
            if not keep:
                db.close()

    @contextlib.contextmanager
    def _unit(self, begin: str) -> Iterator[_Tx]:
        try:
            with self._db() as db:
                db.execute(begin)
                try:
                    yield _Tx(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:  # a locked, full or damaged file: one sentence
            raise StoreUnavailable(f"The room store cannot be used right now ({exc}).") from exc

    def reading(self) -> contextlib.AbstractContextManager[_Tx]:
        """A read transaction: one consistent snapshot, writers not held up (WAL)."""
        return self._unit("BEGIN")

    def writing(self) -> contextlib.AbstractContextManager[_Tx]:
        """A write transaction taken at once (BEGIN IMMEDIATE), so writers queue, not fail."""
        return self._unit("BEGIN IMMEDIATE")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
