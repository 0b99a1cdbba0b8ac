"""Audience rooms: phones draw, a wall shows how each network reads the room.

rules (types, limits, states, rate limits, input checks), people (signed participant
ids), store (the rules over a persistence interface, and the default store), backend
(that interface), sql (the rows in SQLite or PostgreSQL), schema (the tables and their
upgrades), scoreboard, exchange (export and import), archive (reading an untrusted
export), join (the join URL and QR code)."""
