"""The phone's unsent drawing, kept in its browser until it is sent (assets/room-keep.js).

Each run of the phone's drawing part tells a small component what to do: on a session's
first run it asks what the browser kept for this room (a drawing that was never sent:
the connection dropped, the page was reloaded, the server restarted); then, while a
drawing waits to be sent, it saves its strokes; once the drawing is sent or cleared, it
forgets them. The browser keeps them in localStorage, never on the server. Where the
browser cannot keep them (storage switched off or full), ``failed()`` says so, and the
page tells the visitor in a sentence.
"""

from __future__ import annotations

import secrets

import streamlit as st

from app_pages import styles

KEY = "room-keep"
_STATE = "room-keep-state"  # {"asked": bool, "kept": str, "failed": bool, "ask": nonce}
_component = st.components.v2.component("mnist_room_keep", js=styles.asset("room-keep.js"))


def _state() -> dict:
    # The question carries a nonce of this session that the answer repeats: after a restart
    # of the server the page's component still holds the last session's answer, and an
    # answer equal to it would never reach the new session.
    fresh = {"asked": False, "kept": "", "failed": False, "ask": secrets.token_hex(6)}
    return st.session_state.setdefault(_STATE, fresh)


def _replied() -> None:
    reply = (st.session_state.get(KEY) or {}).get("reply")
    s = _state()
    if not isinstance(reply, dict) or reply.get("ask") != s["ask"]:
        return
    s["asked"] = True
    kept = reply.get("kept")
    if isinstance(kept, str) and kept:
        s["kept"] = kept
    s["failed"] = bool(reply.get("failed"))


def kept() -> str | None:
    """The strokes (compact JSON text) the browser kept for this room, once, or None."""
    s = _state()
    text, s["kept"] = s["kept"], ""
    return text or None


def asked() -> bool:
    """Whether the browser has said what it kept (until then, nothing is saved or cleared)."""
    return _state()["asked"]


def failed() -> bool:
    """Whether the browser said it cannot keep a drawing."""
    return _state()["failed"]


def tell(room: str, strokes: str | None) -> None:
    """Once per run of the drawing part: ask what is kept (first), else keep `strokes` (the
    drawing that waits to be sent) or forget what was kept (None)."""
    s = _state()
    if not s["asked"]:
        data = {"op": "ask", "room": room, "ask": s["ask"]}
    elif strokes is not None:
        data = {"op": "save", "room": room, "strokes": strokes, "ask": s["ask"]}
    else:
        data = {"op": "clear", "ask": s["ask"]}
    _component(key=KEY, data=data, on_reply_change=_replied, width="content", height="content")
