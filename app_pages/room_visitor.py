"""Who a room page's visitor is: their client address (every per-address limit's key), the
participant id their browser keeps, and the room they asked for."""

from __future__ import annotations

import streamlit as st

from app_pages import browser_store, presenter_ui
from mnist_models import addresses, text
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

WRONG_KEY = "room-wrong-code"  # (code, message): the last code this session found wrong
PARTICIPANT_KEY = "room-participant"  # this session's participant id
PARTICIPANT_COOKIE = "mnist_room_participant"  # the signed token this browser keeps
NICK_COOKIE = "mnist_room_nick"
KEEP_S = 180 * 24 * 3600  # how long a browser keeps its participant (a school year)


def client_address() -> str:
    """The visitor's network address, the key of every per-address room limit: the same
    rule as the presenter's wrong passcodes (addresses.client_address: the websocket's
    peer, or the address a trusted proxy forwarded), an IPv6 client by its /64."""
    g = presenter_ui.gate()
    if g is not None:
        return presenter_ui.client(g)
    peer = st.context.ip_address  # no gate (its settings have a problem): no proxy trusted
    peer = peer if isinstance(peer, str) and peer else "127.0.0.1"
    return addresses.limit_key(addresses.client_address(peer, {}))


def _headers() -> dict[str, str]:
    """The headers of this session's connection, names in lower case."""
    h = st.context.headers
    try:
        return {k.lower(): ", ".join(h.get_all(k)) for k in h.keys()}
    except (AttributeError, TypeError):  # a test session has no connection
        return {}


def participant(store: room_store.Rooms) -> str:
    """This browser's participant id: the one its kept token signs (the same person after a
    reload, a reconnection or a restart of the server), else a new one, given to the
    browser to keep (written at the page's browser_store.flush())."""
    pid = st.session_state.get(PARTICIPANT_KEY)
    if pid is not None:
        return pid
    # Only a page of this server may use the browser's token (a page of another site can
    # open a connection here, and the browser might send the cookie along).
    same_site = addresses.is_same_origin(_headers())
    pid = store.participant_of(browser_store.get(PARTICIPANT_COOKIE)) if same_site else None
    if pid is None:
        pid, token = store.new_participant()
        browser_store.set(PARTICIPANT_COOKIE, token, KEEP_S)
    st.session_state[PARTICIPANT_KEY] = pid
    return pid


def kept_nickname() -> str:
    """The name this browser last gave on the wall ('' for none)."""
    return rules.clean_nickname(browser_store.get(NICK_COOKIE)) or ""


def keep_nickname(nickname: str | None) -> None:
    """Have this browser keep the name it gave (at the next browser_store.flush())."""
    nickname = rules.clean_nickname(nickname) or ""
    if nickname != kept_nickname():
        if nickname:
            browser_store.set(NICK_COOKIE, nickname, KEEP_S)
        else:
            browser_store.delete(NICK_COOKIE)


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
