"""Audience rooms: many phones draw, one wall shows how each network reads the room.

The store keeps rooms and their drawings in an embedded SQLite database under
the app home (``<home>/rooms.sqlite3``, WAL journal, a pooled connection per
thread at a time, every write in a transaction), so a restart loses nothing and several
server processes can share it. ``RoomStore`` is the interface a PostgreSQL
store would also implement; ``open_store()`` returns the default one.

A room has a short code (letters that cannot be mistaken for one another or
for digits), a title, a state (open, paused, closed; a closed room can be
reopened) and a creation time. A drawing records its room, the time, an
anonymous participant id, an optional nickname, the strokes (vector, JSON),
the 28x28 image (784 uint8 bytes, ink = 255), an optional label, each
network's ten probabilities and the model version it used, and a hidden flag.
The store enforces the limits (``MAX_STROKES_BYTES``, ``MAX_POINTS``,
``MAX_NICKNAME``) and the rate limit (one drawing per ``MIN_INTERVAL``
seconds per participant), whatever page or client sends.

Export format (``export_room``): one zip holding

- ``room.npz`` (numpy, no pickles): ``ids`` int64 (N,), ``images`` uint8
  (N, 28, 28), ink = 255; ``labels`` int8 (N,), -1 where none was given;
  ``probs`` float32 (N, K, 10), each network's probabilities; ``networks``
  str (K,), the network keys in the order of ``probs``' second axis;
- ``room.json``: ``{"format": "mnist-room", "version": 1, "room": {code,
  title, state, created}, "networks": [...], "drawings": [{id, created,
  participant, nickname, label, hidden, versions: {net: version id},
  strokes: [[[x, y], ...], ...]}, ...]}``, the drawings in the npz's order;
  times are Unix seconds, strokes are canvas pixels.

``import_room`` reads that zip into a store and round-trips it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ipaddress
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mnist_models import files
from mnist_models.addresses import is_local_address

CODE_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # no B/8, I/L/1, O/0, S/5, Z/2
CODE_LENGTH = 4
STATES = ("open", "paused", "closed")
MAX_TITLE = 80
MAX_NICKNAME = 24  # characters
MAX_STROKES_BYTES = 64_000  # the strokes' JSON; a real digit is 1-10 kB
MAX_STROKES = 50
MAX_POINTS = 4_000  # over all strokes of one drawing
MIN_INTERVAL = 1.0  # seconds between two drawings of one participant
IMAGE_BYTES = 28 * 28
MAX_IMPORT_BYTES = 200_000_000  # uncompressed size of an imported zip's members
PUBLIC_URL_ENV = "MNIST_PUBLIC_URL"
STORE_FILE = "rooms.sqlite3"


class RoomError(ValueError):
    """Anything a room refuses; the message is one sentence for people."""


class RoomNotFound(RoomError):
    pass


class RoomNotOpen(RoomError):
    pass


class RateLimited(RoomError):
    pass


class StoreUnavailable(RoomError):
    pass


def _guarded(method):
    """SQLite failures (a locked, full or damaged file) become one sentence for people."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"The room store cannot be used right now ({exc}).") from exc

    return wrapper


@dataclass(frozen=True)
class Room:
    code: str
    title: str
    state: str  # open, paused or closed
    created: float  # Unix seconds
    revision: int = 0  # bumped when a drawing is hidden or shown, so walls re-read


@dataclass(frozen=True)
class Answer:
    """One network's reading of a drawing, as stored."""

    probs: tuple[float, ...]  # ten probabilities, digits 0..9
    version: str  # the model version id that gave them

    @property
    def digit(self) -> int:
        return max(range(10), key=self.probs.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probs[self.digit]


@dataclass(frozen=True)
class Drawing:
    id: int
    room: str
    created: float
    participant: str
    nickname: str | None
    strokes: str  # JSON: [[[x, y], ...], ...] in canvas pixels
    image: bytes  # 784 bytes, 28x28 uint8, ink = 255
    label: int | None
    answers: dict[str, Answer] = field(default_factory=dict)
    hidden: bool = False

    def pixels(self) -> np.ndarray:
        """The 28x28 image as uint8 (ink = 255)."""
        return np.frombuffer(self.image, dtype=np.uint8).reshape(28, 28)

    def right(self, net: str) -> bool | None:
        """Whether network `net` read the label; None when there is no label."""
        if self.label is None or net not in self.answers:
            return None
        return self.answers[net].digit == self.label


# ---------------------------------------------------------------- validation


def clean_code(code: Any) -> str:
    """A room code as typed (any case, spaces) -> its canonical form; RoomNotFound if malformed."""
    text = "".join(str(code or "").split()).upper()
    if len(text) != CODE_LENGTH or any(c not in CODE_LETTERS for c in text):
        shown = str(code or "")[:20]
        raise RoomNotFound(
            f"“{shown}” is not a room code: codes are {CODE_LENGTH} letters, as shown on the wall."
        )
    return text


def clean_nickname(nickname: Any) -> str | None:
    """Printable text, at most MAX_NICKNAME characters, or None; never refuses a drawing."""
    if nickname is None:
        return None
    text = " ".join("".join(c for c in str(nickname) if c.isprintable()).split())
    return text[:MAX_NICKNAME] or None


def encode_strokes(strokes: Iterable[Sequence[Sequence[float]]]) -> str:
    """Strokes (point lists in canvas pixels) -> compact JSON, checked against the limits."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    if sum(len(a) for a in arrays) > MAX_POINTS:  # refuse before building the text
        raise RoomError(f"A drawing holds at most {MAX_POINTS:,} points.")
    out = [[[round(float(x), 1), round(float(y), 1)] for x, y in a] for a in arrays]
    return check_strokes(json.dumps(out, separators=(",", ":")))


def check_strokes(text: str) -> str:
    """Validate stored-stroke JSON; returns it unchanged or raises RoomError."""
    if not isinstance(text, str):
        raise RoomError("The drawing's strokes are not text.")
    if len(text.encode()) > MAX_STROKES_BYTES:
        raise RoomError(
            f"This drawing is too large to send (over {MAX_STROKES_BYTES // 1000} kB "
            "of strokes): clear the canvas and draw one digit."
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise RoomError("The drawing's strokes are not valid JSON.") from None
    if not isinstance(data, list) or len(data) > MAX_STROKES:
        raise RoomError(f"A drawing holds at most {MAX_STROKES} strokes.")
    points = 0
    for s in data:
        if not isinstance(s, list):
            raise RoomError("Each stroke must be a list of points.")
        points += len(s)
        for p in s:
            if (
                not isinstance(p, list)
                or len(p) != 2
                or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in p
                )
            ):
                raise RoomError("Each stroke point must be two finite numbers.")
    if points > MAX_POINTS:
        raise RoomError(f"A drawing holds at most {MAX_POINTS:,} points.")
    return text


def image_bytes(image: np.ndarray) -> bytes:
    """A 28x28 image in [0, 1] (float) or uint8 -> the 784 stored bytes."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise RoomError(f"A drawing's image must be 28x28, not {a.shape}.")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)
    return a.tobytes()


def _check_answers(answers: dict[str, Any]) -> dict[str, Answer]:
    if not isinstance(answers, dict) or not answers:
        raise RoomError("A drawing needs each network's answer.")
    out = {}
    for net, a in answers.items():
        try:
            if not isinstance(a, Answer):
                a = Answer(tuple(a["probs"]), a["version"])
            probs = tuple(float(p) for p in a.probs)
        except (KeyError, TypeError, ValueError):
            raise RoomError(f"The {net} answer must be ten probabilities and a version.") from None
        if len(probs) != 10 or not all(math.isfinite(p) and 0 <= p <= 1 for p in probs):
            raise RoomError(f"The {net} answer must be ten probabilities.")
        if not isinstance(a.version, str) or not 0 < len(a.version) <= 200:
            raise RoomError(f"The {net} answer must name its model version.")
        # Stored to 6 decimals (plenty for display and scores); the returned Drawing
        # carries the same values as the store, so what a phone sees is what is kept.
        out[str(net)] = Answer(tuple(round(p, 6) for p in probs), a.version)
    return out


def _answers_json(answers: dict[str, Answer]) -> str:
    return json.dumps(
        {k: {"probs": list(a.probs), "version": a.version} for k, a in answers.items()},
        separators=(",", ":"),
    )


# ---------------------------------------------------------------- the interface


class RoomStore(Protocol):
    """Rooms and drawings; every method is safe to call from many threads at once."""

    def create_room(self, title: str = "", code: str | None = None) -> Room:
        """A new open room with a fresh code (or the given one, if free)."""
        ...

    def get_room(self, code: str) -> Room:
        """The room; RoomNotFound for a malformed or unknown code."""
        ...

    def list_rooms(self) -> list[Room]:
        """Every room, newest first."""
        ...

    def set_state(self, code: str, state: str) -> Room:
        """Open, pause, close or reopen a room."""
        ...

    def join(self, code: str, participant: str, nickname: str | None = None) -> None:
        """Count a participant in a room (idempotent)."""
        ...

    def participants(self, code: str) -> int:
        """How many participants have joined the room."""
        ...

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
        ...

    def drawings(
        self, code: str, after: int = 0, include_hidden: bool = False, limit: int | None = None
    ) -> list[Drawing]:
        """The room's drawings with id > after, oldest first."""
        ...

    def set_hidden(self, code: str, drawing_id: int, hidden: bool = True) -> None:
        """Hide a drawing from the wall and the scoreboard (or show it again)."""
        ...

    def import_drawings(self, code: str, drawings: Sequence[Drawing]) -> None:
        """Add checked drawings with their own times (no rate limit), in one transaction."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# ---------------------------------------------------------------- SQLite

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


class SQLiteRoomStore:
    """RoomStore in one SQLite file: WAL, busy timeout, a connection per thread at a time.

    Connections come from a small pool: a web server runs each script run in a
    fresh thread, so connections kept per thread would pile up, one per run.
    """

    POOL = 8  # idle connections kept

    def __init__(self, path: Path | str, busy_timeout: float = 15.0) -> None:
        self.path = Path(path)
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one write transaction, committed unless the block raises."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._db() as db:
            return db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()

    # rooms

    @staticmethod
    def _room(row: tuple) -> Room:
        return Room(row[0], row[1], row[2], row[3], row[4])

    @_guarded
    def create_room(self, title: str = "", code: str | None = None) -> Room:
        title = " ".join("".join(c for c in str(title or "") if c.isprintable()).split())
        title = title[:MAX_TITLE]
        with self._write() as db:
            if code is not None:
                code = clean_code(code)
                if db.execute("SELECT 1 FROM rooms WHERE code=?", (code,)).fetchone():
                    raise RoomError(f"Room {code} already exists.")
            else:
                for _ in range(200):
                    code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
                    if not db.execute("SELECT 1 FROM rooms WHERE code=?", (code,)).fetchone():
                        break
                else:
                    raise RoomError("No free room code is left: delete old rooms.")
            room = Room(code, title or f"Room {code}", "open", time.time())
            db.execute(
                "INSERT INTO rooms VALUES (?, ?, ?, ?, 0)",
                (room.code, room.title, room.state, room.created),
            )
        return room

    @_guarded
    def get_room(self, code: str) -> Room:
        code = clean_code(code)
        rows = self._read("SELECT * FROM rooms WHERE code=?", (code,))
        row = rows[0] if rows else None
        if row is None:
            raise RoomNotFound(f"There is no room {code}: check the code on the wall.")
        return self._room(row)

    @_guarded
    def list_rooms(self) -> list[Room]:
        rows = self._read("SELECT * FROM rooms ORDER BY created DESC")
        return [self._room(r) for r in rows]

    @_guarded
    def set_state(self, code: str, state: str) -> Room:
        if state not in STATES:
            raise RoomError(f"A room is open, paused or closed, not {state!r}.")
        room = self.get_room(code)
        with self._write() as db:
            db.execute("UPDATE rooms SET state=? WHERE code=?", (state, room.code))
        return self.get_room(room.code)

    # participants

    @_guarded
    def join(self, code: str, participant: str, nickname: str | None = None) -> None:
        room = self.get_room(code)
        with self._write() as db:
            self._join(db, room.code, _participant(participant), clean_nickname(nickname))

    @staticmethod
    def _join(db: sqlite3.Connection, code: str, participant: str, nickname: str | None) -> None:
        db.execute(
            "INSERT INTO participants(room, participant, nickname, joined) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(room, participant) DO UPDATE SET "
            "nickname=COALESCE(excluded.nickname, nickname)",
            (code, participant, nickname, time.time()),
        )

    @_guarded
    def participants(self, code: str) -> int:
        code = clean_code(code)
        return self._read("SELECT COUNT(*) FROM participants WHERE room=?", (code,))[0][0]

    # drawings

    @_guarded
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
        code = clean_code(code)
        participant = _participant(participant)
        nickname = clean_nickname(nickname)
        strokes = check_strokes(strokes)
        if not isinstance(image, (bytes, bytearray)) or len(image) != IMAGE_BYTES:
            raise RoomError("A drawing's image must be 784 bytes (28x28).")
        if label is not None:
            if (
                isinstance(label, bool)
                or not isinstance(label, (int, np.integer))
                or not 0 <= label <= 9
            ):
                raise RoomError(f"A label is a digit from 0 to 9, not {label!r}.")
            label = int(label)
        checked = _check_answers(answers)
        now = time.time() if now is None else float(now)
        with self._write() as db:
            row = db.execute("SELECT state FROM rooms WHERE code=?", (code,)).fetchone()
            if row is None:
                raise RoomNotFound(f"There is no room {code}: check the code on the wall.")
            if row[0] == "paused":
                raise RoomNotOpen(
                    "The presenter has paused this room: wait a moment and send again."
                )
            if row[0] == "closed":
                raise RoomNotOpen("This room is closed: thank you for taking part!")
            last = db.execute(
                "SELECT last_drawing FROM participants WHERE room=? AND participant=?",
                (code, participant),
            ).fetchone()
            if last and last[0] is not None and now - last[0] < MIN_INTERVAL:
                raise RateLimited("One drawing a second, please: send again in a moment.")
            self._join(db, code, participant, nickname)
            db.execute(
                "UPDATE participants SET last_drawing=? WHERE room=? AND participant=?",
                (now, code, participant),
            )
            cur = db.execute(
                "INSERT INTO drawings(room, created, participant, nickname, strokes, image, "
                "label, answers, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    now,
                    participant,
                    nickname,
                    strokes,
                    bytes(image),
                    label,
                    _answers_json(checked),
                    int(hidden),
                ),
            )
            did = cur.lastrowid
        return Drawing(
            did, code, now, participant, nickname, strokes, bytes(image), label, checked, hidden
        )

    @staticmethod
    def _drawing(row: tuple) -> Drawing:
        answers = {
            k: Answer(tuple(v["probs"]), v["version"]) for k, v in json.loads(row[8]).items()
        }
        return Drawing(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            bytes(row[6]),
            row[7],
            answers,
            bool(row[9]),
        )

    @_guarded
    def drawings(
        self, code: str, after: int = 0, include_hidden: bool = False, limit: int | None = None
    ) -> list[Drawing]:
        code = clean_code(code)
        sql = "SELECT * FROM drawings WHERE room=? AND id>?"
        if not include_hidden:
            sql += " AND hidden=0"
        sql += " ORDER BY id"
        args: tuple = (code, int(after))
        if limit is not None:
            sql += " LIMIT ?"
            args += (int(limit),)
        return [self._drawing(r) for r in self._read(sql, args)]

    @_guarded
    def set_hidden(self, code: str, drawing_id: int, hidden: bool = True) -> None:
        code = clean_code(code)
        with self._write() as db:
            cur = db.execute(
                "UPDATE drawings SET hidden=? WHERE id=? AND room=?",
                (int(hidden), int(drawing_id), code),
            )
            if cur.rowcount != 1:
                raise RoomError(f"Room {code} has no drawing {drawing_id}.")
            db.execute("UPDATE rooms SET revision=revision+1 WHERE code=?", (code,))

    @_guarded
    def import_drawings(self, code: str, drawings: Sequence[Drawing]) -> None:
        code = self.get_room(code).code
        with self._write() as db:
            for d in drawings:
                self._join(db, code, d.participant, d.nickname)
                db.execute(
                    "INSERT INTO drawings(room, created, participant, nickname, strokes, image, "
                    "label, answers, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        code,
                        d.created,
                        d.participant,
                        d.nickname,
                        d.strokes,
                        d.image,
                        d.label,
                        _answers_json(d.answers),
                        int(d.hidden),
                    ),
                )


def _participant(pid: Any) -> str:
    text = str(pid or "")
    if not 1 <= len(text) <= 64 or not text.isprintable():
        raise RoomError("A participant id is 1-64 printable characters.")
    return text


def store_path() -> Path:
    """Where the default store lives: <app home>/rooms.sqlite3."""

    return files.home() / STORE_FILE


def open_store(path: Path | str | None = None) -> RoomStore:
    """A new handle on the default store (SQLite under the app home, or `path`)."""
    return SQLiteRoomStore(path or store_path())


@functools.cache
def shared_store(path: str) -> RoomStore:
    """One handle per store file for the whole process (the web server's sessions share it)."""
    return open_store(path)


# ---------------------------------------------------------------- the scoreboard


@dataclass
class NetScore:
    labelled: int = 0
    right: int = 0
    per_digit: dict[int, tuple[int, int]] = field(default_factory=dict)  # digit -> (right, n)
    confused: list[tuple[tuple[int, int], int]] = field(default_factory=list)  # ((meant, read), n)

    @property
    def accuracy(self) -> float | None:
        return self.right / self.labelled if self.labelled else None


@dataclass
class Scoreboard:
    drawings: int
    labelled: int
    nets: dict[str, NetScore]
    only_one_right: list[Drawing]  # newest first
    both_wrong: list[Drawing]  # newest first; "all wrong" with more than two networks


def scoreboard(drawings: Iterable[Drawing], nets: Sequence[str], top: int = 3) -> Scoreboard:
    """Each network's accuracy on the labelled drawings, per digit, its most confused pairs."""
    shown = list(drawings)
    labelled = [d for d in shown if d.label is not None]
    scores = {}
    for net in nets:
        s = NetScore()
        per: dict[int, list[int]] = {}
        confused: Counter = Counter()
        for d in labelled:
            if net not in d.answers:
                continue
            ok = d.right(net)
            s.labelled += 1
            s.right += bool(ok)
            cell = per.setdefault(d.label, [0, 0])
            cell[0] += bool(ok)
            cell[1] += 1
            if not ok:
                confused[(d.label, d.answers[net].digit)] += 1
        s.per_digit = {k: (v[0], v[1]) for k, v in sorted(per.items())}
        s.confused = confused.most_common(top)
        scores[net] = s
    rights = [(d, [d.right(n) for n in nets]) for d in labelled]
    only_one = [d for d, r in rights if sum(bool(x) for x in r) == 1 and len(nets) > 1]
    all_wrong = [d for d, r in rights if not any(r)]
    return Scoreboard(len(shown), len(labelled), scores, only_one[::-1], all_wrong[::-1])


# ---------------------------------------------------------------- export / import


def export_room(store: RoomStore, code: str) -> bytes:
    """One room as the zip described in the module docstring."""
    room = store.get_room(code)
    ds = store.drawings(room.code, include_hidden=True)
    nets = sorted({k for d in ds for k in d.answers}, key=_net_order)
    n = len(ds)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = np.full(n, -1, np.int8)
    probs = np.full((n, len(nets), 10), np.nan, np.float32)
    for i, d in enumerate(ds):
        images[i] = d.pixels()
        if d.label is not None:
            labels[i] = d.label
        for j, net in enumerate(nets):
            if net in d.answers:
                probs[i, j] = d.answers[net].probs
    npz = io.BytesIO()
    np.savez_compressed(
        npz,
        ids=np.array([d.id for d in ds], np.int64),
        images=images,
        labels=labels,
        probs=probs,
        networks=np.array(nets, dtype=str),
    )
    meta = {
        "format": "mnist-room",
        "version": 1,
        "room": {
            "code": room.code,
            "title": room.title,
            "state": room.state,
            "created": room.created,
        },
        "networks": nets,
        "drawings": [
            {
                "id": d.id,
                "created": d.created,
                "participant": d.participant,
                "nickname": d.nickname,
                "label": d.label,
                "hidden": d.hidden,
                "versions": {k: a.version for k, a in d.answers.items()},
                "strokes": json.loads(d.strokes),
            }
            for d in ds
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("room.npz", npz.getvalue())
        z.writestr("room.json", json.dumps(meta, separators=(",", ":")))
    return out.getvalue()


def _net_order(key: str) -> tuple[int, str]:
    from mnist_models.nets import networks

    order = networks.keys()
    return (order.index(key) if key in order else len(order), key)


def import_room(store: RoomStore, data: bytes) -> Room:
    """Read an exported room into `store` under its code (a new code if that one is taken)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if not {"room.npz", "room.json"} <= names:
                raise RoomError("This zip is not a room export (it needs room.npz and room.json).")
            if sum(z.getinfo(m).file_size for m in ("room.npz", "room.json")) > MAX_IMPORT_BYTES:
                raise RoomError("This room export is too large to import.")
            meta = json.loads(z.read("room.json"))
            if not isinstance(meta, dict) or meta.get("format") != "mnist-room":
                raise RoomError("This file is not a room export (format is not mnist-room).")
            if meta.get("version") != 1:
                raise RoomError(f"Room export version {meta.get('version')!r} is not supported.")
            with np.load(io.BytesIO(z.read("room.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in ("ids", "images", "labels", "probs", "networks")}
    except RoomError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise RoomError(f"This file is not a readable room export ({exc}).") from None
    try:
        info, rows = meta["room"], meta["drawings"]
        nets = [str(x) for x in arrays["networks"]]
        n = len(rows)
        if not (
            arrays["images"].shape == (n, 28, 28)
            and arrays["labels"].shape == (n,)
            and arrays["probs"].shape == (n, len(nets), 10)
        ):
            raise RoomError("The room export's arrays do not match its drawings.")
        if arrays["images"].dtype != np.uint8 or not np.isin(arrays["labels"], range(-1, 10)).all():
            raise RoomError("The room export's images or labels are malformed.")
        drawings = []
        for i, row in enumerate(rows):
            answers = _check_answers(
                {
                    net: Answer(
                        tuple(float(p) for p in arrays["probs"][i, j]), row["versions"][net]
                    )
                    for j, net in enumerate(nets)
                    if net in row["versions"]
                }
            )
            label = int(arrays["labels"][i])
            drawings.append(
                Drawing(
                    0,
                    "",
                    float(row["created"]),
                    _participant(row["participant"]),
                    clean_nickname(row.get("nickname")),
                    check_strokes(json.dumps(row["strokes"], separators=(",", ":"))),
                    arrays["images"][i].tobytes(),
                    None if label < 0 else label,
                    answers,
                    bool(row.get("hidden")),
                )
            )
    except RoomError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise RoomError(f"The room export is incomplete or malformed ({exc!r}).") from None
    # Everything is checked before the room is made, so a bad file leaves no half room.
    try:
        room = store.create_room(str(info.get("title", "")), info.get("code"))
    except RoomError:
        room = store.create_room(str(info.get("title", "")))
    store.import_drawings(room.code, drawings)
    if info.get("state") in STATES and info["state"] != "open":
        store.set_state(room.code, info["state"])
    return store.get_room(room.code)


# ---------------------------------------------------------------- join URL and QR


def lan_address() -> str | None:
    """This machine's address on the local network, found without sending anything.

    connect() on a UDP socket only picks the route (no packet leaves); the
    target is a private address, so it works with no internet. Falls back to
    the host name's addresses. None when only loopback is found.
    """
    candidates = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 9))
            candidates.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        candidates += [
            ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        ]
    except OSError:
        pass
    for addr in candidates:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            return addr
    return None


OPEN_COMMAND = "streamlit run app.py --server.address 0.0.0.0"


def public_url() -> str | None:
    """$MNIST_PUBLIC_URL: the server's address as phones reach it (behind a proxy), if set."""
    return os.environ.get(PUBLIC_URL_ENV, "").strip() or None


def base_url(port: int, server_address: str | None = None) -> str:
    """The server's URL as phones on the network see it; $MNIST_PUBLIC_URL wins (proxies)."""
    public = public_url()
    if public:
        return public.rstrip("/")
    host = None
    addr = (server_address or "").strip()
    if addr and addr not in ("0.0.0.0", "::") and not is_local_address(addr):
        host = addr
    host = host or lan_address() or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{int(port)}"


JOIN_PATH = "join"


def join_url(code: str, port: int, server_address: str | None = None) -> str:
    """The URL a phone opens to join room `code` (what the QR code holds)."""
    return f"{base_url(port, server_address)}/{JOIN_PATH}?room={clean_code(code)}"


def qr_svg(url: str, scale: int = 10, dark: str = "#000", light: str = "#fff") -> str:
    """The URL as a standalone SVG QR code (segno: pure Python, offline)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(
        buf,
        kind="svg",
        scale=scale,
        dark=dark,
        light=light,
        border=2,
        xmldecl=False,
        svgclass=None,
        lineclass=None,
    )
    return buf.getvalue().decode()
