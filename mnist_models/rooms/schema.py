"""The room store's tables, and the steps that create or upgrade them in place.

Version 1 is the layout the first SQLite stores were made with (rooms, participants,
drawings, no version table); version 2 adds ``schema_version``, which holds the
number from then on. ``upgrade()`` runs the missing steps inside the caller's
transaction, so a store is upgraded whole or not at all, and the same tables are
made on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from mnist_models.rooms.rules import StoreUnavailable

SCHEMA_VERSION = 2

metadata = sa.MetaData()

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created", sa.Double, nullable=False),  # Unix seconds
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
)

participants = sa.Table(
    "participants",
    metadata,
    sa.Column("room", sa.Text, sa.ForeignKey("rooms.code"), primary_key=True),
    sa.Column("participant", sa.Text, primary_key=True),
    sa.Column("nickname", sa.Text),
    sa.Column("joined", sa.Double, nullable=False),
    sa.Column("last_drawing", sa.Double),  # when their last drawing was taken; the rate limit
)

drawings = sa.Table(
    "drawings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room", sa.Text, sa.ForeignKey("rooms.code"), nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("participant", sa.Text, nullable=False),
    sa.Column("nickname", sa.Text),
    sa.Column("strokes", sa.Text, nullable=False),  # JSON
    sa.Column("image", sa.LargeBinary, nullable=False),  # 784 bytes
    sa.Column("label", sa.Integer),
    sa.Column("answers", sa.Text, nullable=False),  # JSON
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("drawings_room", "room", "id"),
    sqlite_autoincrement=True,  # ids are never reused: walls read "after the last id seen"
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

_V1_TABLES = [rooms, participants, drawings]


def _step_1(conn: sa.Connection) -> None:
    """The first layout: rooms, participants and drawings."""
    metadata.create_all(conn, tables=_V1_TABLES, checkfirst=True)


def _step_2(conn: sa.Connection) -> None:
    """The version table, so later steps know where a store stands."""
    schema_version.create(conn, checkfirst=True)
    conn.execute(sa.insert(schema_version).values(version=0))


STEPS: dict[int, Callable[[sa.Connection], None]] = {1: _step_1, 2: _step_2}


def version(conn: sa.Connection) -> int:
    """The store's schema version: 0 when empty, 1 for a store made before the version table."""
    tables = set(sa.inspect(conn).get_table_names())
    if "schema_version" in tables:
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        return int(found or 0)
    return 1 if "rooms" in tables else 0


def upgrade(conn: sa.Connection) -> int:
    """Bring the store to SCHEMA_VERSION inside the caller's transaction; the old version."""
    old = version(conn)
    if old > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"The room store was made by a newer version of this app (schema {old}, this app "
            f"knows up to {SCHEMA_VERSION}): update the app."
        )
    for step in range(old + 1, SCHEMA_VERSION + 1):
        STEPS[step](conn)
    if old < SCHEMA_VERSION:
        conn.execute(sa.update(schema_version).values(version=SCHEMA_VERSION))
    return old
