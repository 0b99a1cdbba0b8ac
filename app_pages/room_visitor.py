"""Who a room page's visitor is, as the room's per-address limits count them."""

from __future__ import annotations

import streamlit as st

from mnist_models import text
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

WRONG_KEY = "room-wrong-code"  # (code, message): the last code this session found wrong
THIS_MACHINE = "this-machine"  # every browser on the server's own machine (or its proxy)


def client_address() -> str:
    """The visitor's network address, the key of every per-address room limit.

    The one place that decides it: the websocket's peer as Streamlit reports it (None
    from this machine). Behind a proxy every visitor has the proxy's address, so they
    share its limits; believing a proxy's X-Forwarded-For belongs here once there is a
    rule for which proxies to trust.
    """
    peer = st.context.ip_address
    return peer if isinstance(peer, str) and peer else THIS_MACHINE


def plain(message: object) -> str:
    """A message for st.error and its kind that may quote data (a code typed, a title), as
    markdown that shows it exactly as written: no link, image or formatting from data."""
    return text.md_escape(str(message))


def find_room(store: room_store.Rooms, code: str) -> rules.Room:
    """The room for the code in the page's address, wrong codes throttled per client address.

    The code this session last found wrong is refused again without asking the store: a
    rerun of the page (a form sent, a widget touched) is not another try.
    """
    last = st.session_state.get(WRONG_KEY)
    if last is not None and last[0] == code:
        raise rules.RoomNotFound(last[1])
    try:
        return store.find_room(code, client_address())
    except rules.RoomNotFound as exc:
        st.session_state[WRONG_KEY] = (code, str(exc))
        raise
