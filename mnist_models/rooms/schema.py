"""The room store's tables, and the steps that create or upgrade them in place.

Version 1 is the layout the first SQLite stores were made with (rooms, participants,
drawings, no version table); version 2 adds ``schema_version``, which holds the
number from then on; version 3 adds the per-address limits (``code_tries``,
``senders``, each participant's address), the key that signs participant ids
(``secrets``) and the not-a-digit verdict of each drawing.
``upgrade()`` runs the missing steps inside the caller's transaction, so a store is
upgraded whole or not at all, and the same tables are made on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from mnist_models.rooms.rules import StoreUnavailable

SCHEMA_VERSION = 3

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
    sa.Column("address", sa.Text),  # the client address that made them (schema 3): the cap
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
    sa.Column("not_digit", sa.Boolean),  # the not-a-digit check's verdict (schema 3)
    sa.Index("drawings_room", "room", "id"),
    sqlite_autoincrement=True,  # ids are never reused: walls read "after the last id seen"
)

# Unknown room codes tried per client address, counted from `since` (the throttle).
code_tries = sa.Table(
    "code_tries",
    metadata,
    sa.Column("client", sa.Text, primary_key=True),
    sa.Column("since", sa.Double, nullable=False),
    sa.Column("tries", sa.Integer, nullable=False),
)

# Each client address's last drawing per room: the rate limit per address (schema 3).
senders = sa.Table(
    "senders",
    metadata,
    sa.Column("room", sa.Text, sa.ForeignKey("rooms.code"), primary_key=True),
    sa.Column("client", sa.Text, primary_key=True),
    sa.Column("last_drawing", sa.Double, nullable=False),
)

# Values every server of a deployment shares: the key that signs participant ids.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
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


_V3_TABLES = [code_tries, senders, secrets]


def _add_columns(conn: sa.Connection, table: sa.Table, names: list[str]) -> None:
    """Add these columns of `table` where the stored table lacks them (a store made by
    step 1 of this version has them already)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in have:
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


def _step_3(conn: sa.Connection) -> None:
    """Per-address limits (wrong room codes, drawings and new participants per client
    address), the shared secrets, and each drawing's not-a-digit verdict."""
    metadata.create_all(conn, tables=_V3_TABLES, checkfirst=True)
    _add_columns(conn, drawings, ["not_digit"])
    _add_columns(conn, participants, ["address"])


STEPS: dict[int, Callable[[sa.Connection], None]] = {1: _step_1, 2: _step_2, 3: _step_3}


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
