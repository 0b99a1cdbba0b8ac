"""Audience rooms: phones draw, a wall shows how each network reads the room.

rules (types, limits, states, rate limit, input checks), store (the rules over a
persistence interface, and the default store), sqlite (the rows in SQLite),
scoreboard, exchange (export and import), join (the join URL and QR code)."""
