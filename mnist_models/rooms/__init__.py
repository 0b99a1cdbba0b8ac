"""Audience rooms: phones draw, a wall shows how each network reads the room. Types and
rules, the store, the scoreboard, export and import, the join URL and QR code."""
