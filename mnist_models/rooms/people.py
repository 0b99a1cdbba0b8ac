"""Participant ids a phone's browser keeps: signed, so no one can take another's.

A phone keeps one token, ``<id>.<signature>``, from its first visit: the id is random
(16 URL-safe characters, nothing about the person), the signature an HMAC-SHA256 of it
under the store's secret. The server believes an id only with its signature, so a
visitor who sees someone's id (in an export) cannot send as them, and every server of a
deployment checks tokens alike: the secret lives in the database they share
(``Rooms.participant_secret``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SECRET_NAME = "participant-key"
ID_CHARS = 16
_TOKEN = re.compile(r"([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})")


def new_secret() -> str:
    """A fresh signing key, as text (256 random bits)."""
    return secrets.token_urlsafe(32)


def _sign(secret: bytes, pid: str) -> str:
    mac = hmac.new(secret, b"room-participant:" + pid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")  # 22 characters


def new_token(secret: bytes) -> tuple[str, str]:
    """A new participant: (id, the token the browser keeps)."""
    pid = secrets.token_urlsafe(12)  # 16 characters
    return pid, f"{pid}.{_sign(secret, pid)}"


def read_token(secret: bytes, token: object) -> str | None:
    """The participant id in a token signed with `secret`; None for anything else."""
    if not isinstance(token, str):
        return None
    m = _TOKEN.fullmatch(token)
    if m is None or not hmac.compare_digest(m.group(2), _sign(secret, m.group(1))):
        return None
    return m.group(1)
