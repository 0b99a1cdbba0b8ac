"""The database under the room store: its address, creating and upgrading its tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from browser_utils import free_port

from mnist_models.rooms import schema, sql
from mnist_models.rooms.rules import Answer, RateLimited, StoreUnavailable
from mnist_models.rooms.store import open_store

# A store as the app made it before the schema had a version: today's rooms.sqlite3
# layout and some rows, exactly as that code wrote them.
PREVIOUS_SCHEMA = """
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
INSERT INTO rooms VALUES ('ACDE', 'Year 10', 'paused', 1700000000.5, 1);
INSERT INTO rooms VALUES ('FGHJ', 'Friday', 'open', 1700000100.0, 0);
INSERT INTO participants VALUES ('ACDE', 'p1', 'Ada', 1700000001.0, 1700000002.0);
INSERT INTO participants VALUES ('ACDE', 'p2', NULL, 1700000001.5, 1700000003.0);
INSERT INTO participants VALUES ('FGHJ', 'p3', NULL, 1700000101.0, 1700000102.0);
INSERT INTO drawings VALUES (1, 'ACDE', 1700000002.0, 'p1', 'Ada', '[[[1,2],[3,4]]]',
    zeroblob(784), 7,
    '{"mlp":{"probs":[0,0,0,0,0,0,0,0.9,0.1,0],"version":"shipped/mlp"}}', 0);
INSERT INTO drawings VALUES (2, 'ACDE', 1700000003.0, 'p2', NULL, '[]', zeroblob(784), NULL,
    '{"mlp":{"probs":[0.5,0.5,0,0,0,0,0,0,0,0],"version":"shipped/mlp"}}', 1);
INSERT INTO drawings VALUES (5, 'FGHJ', 1700000102.0, 'p3', NULL, '[]', zeroblob(784), 3,
    '{"mlp":{"probs":[0,0,0,1,0,0,0,0,0,0],"version":"v7"}}', 0);
"""


def stored_version(url: str) -> int:
    engine = sa.create_engine(sql.database_url(url))
    try:
        with engine.connect() as conn:
            return schema.version(conn)
    finally:
        engine.dispose()


def test_a_store_made_by_the_previous_schema_keeps_its_rooms_and_drawings(tmp_path: Path) -> None:
    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(PREVIOUS_SCHEMA)
    assert stored_version(str(path)) == 1
    s = open_store(path)
    assert [(r.code, r.title, r.state, r.revision) for r in s.list_rooms()] == [
        ("FGHJ", "Friday", "open", 0),
        ("ACDE", "Year 10", "paused", 1),
    ]
    assert s.get_room("ACDE").created == 1700000000.5
    [d] = s.drawings("ACDE")
    assert (d.id, d.participant, d.nickname, d.label, d.hidden) == (1, "p1", "Ada", 7, False)
    assert d.answers["mlp"].digit == 7 and d.image == bytes(784) and d.strokes == "[[[1,2],[3,4]]]"
    hidden = s.drawings("ACDE", include_hidden=True)[1]
    assert (hidden.id, hidden.label, hidden.hidden) == (2, None, True)
    assert s.participants("ACDE") == 2 and s.drawings("FGHJ")[0].answers["mlp"].version == "v7"
    # It takes new drawings after the old ones, and remembers when each last sent.
    answers = {"mlp": Answer((0.0,) * 9 + (1.0,), "v7")}
    assert s.add_drawing("FGHJ", "p4", bytes(784), "[]", answers).id == 6
    with pytest.raises(RateLimited):
        s.add_drawing("FGHJ", "p3", bytes(784), "[]", answers, now=1700000102.5)
    s.close()
    assert stored_version(str(path)) == schema.SCHEMA_VERSION
    again = open_store(path)  # opening an upgraded store changes nothing
    assert len(again.drawings("FGHJ")) == 2 and stored_version(str(path)) == schema.SCHEMA_VERSION
    again.close()


def test_a_new_store_gets_the_current_schema(room_url: str) -> None:
    open_store(room_url).close()
    assert stored_version(room_url) == schema.SCHEMA_VERSION


def test_a_store_from_a_newer_app_is_refused_in_one_sentence(room_url: str) -> None:
    open_store(room_url).close()
    engine = sa.create_engine(sql.database_url(room_url))
    with engine.begin() as conn:
        conn.execute(sa.update(schema.schema_version).values(version=99))
    engine.dispose()
    with pytest.raises(StoreUnavailable, match="newer version of this app") as err:
        open_store(room_url)
    assert "\n" not in str(err.value)


def test_store_addresses_are_files_or_database_urls() -> None:
    assert sql.database_url("/tmp/x/rooms.sqlite3").database == "/tmp/x/rooms.sqlite3"
    url = sql.database_url("postgresql://ann:secret@db.example.org/rooms")
    assert url.drivername == "postgresql+psycopg" and url.password == "secret"
    for bad in ("mysql://ann@db/rooms", "sqlite://", "postgresql://:x:/"):
        with pytest.raises(StoreUnavailable) as err:
            sql.database_url(bad)
        assert "\n" not in str(err.value)


def test_an_unreachable_database_is_one_sentence_without_its_password() -> None:
    url = f"postgresql+psycopg://ann:secret@127.0.0.1:{free_port()}/rooms?connect_timeout=5"
    with pytest.raises(StoreUnavailable, match="cannot be opened") as err:
        open_store(url)
    message = str(err.value)
    assert "\n" not in message and "secret" not in message and "127.0.0.1" not in message
    # Where and why, for the server's log and the terminal: the address, not the password.
    assert "127.0.0.1" in err.value.detail and "secret" not in err.value.detail
