"""Audience rooms: phones draw, a wall shows how each network reads the room.

rules (types, limits, states, rate limit, input checks), store (the rules over a
persistence interface, and the default store), sql (the rows in SQLite or PostgreSQL),
schema (the tables and their upgrades), scoreboard, exchange (export and import),
join (the join URL and QR code)."""
