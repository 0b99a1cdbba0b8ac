"""The room's wall (`/wall`): the audience view for the projector, clean, refreshed every
second; the presenter's panel and the lobby are in room_panel.

- `/wall?room=CODE`: code, QR code and join URL, the newest drawings as tiles, the
  scoreboard and highlights; no controls, no setup warnings, no page list; every text at
  least 24 px and every tile on a 1920x1080 screen.
- `/wall?room=CODE&view=presenter`: the presenter's panel (controls, hiding drawings).
- `/wall`: the lobby (open or pick a room).
"""

from __future__ import annotations

import base64
import html

import streamlit as st

from app_pages import room_panel, room_teach, room_tiles, room_visitor, styles
from mnist_models.nets import networks
from mnist_models.rooms import join as room_join
from mnist_models.rooms import rules, scoreboard

TILES = 12  # the newest drawings shown as tiles: three rows of four fit a 1920x1080 wall
REFRESH_S = rules.WALL_REFRESH_S  # the wall reads new drawings this often
store = room_panel.store


def new_drawings(code: str) -> tuple[rules.Room, list[rules.Drawing]]:
    """The room now and its visible drawings, reading only rows this session has not seen."""
    room = store().get_room(code)
    seen = st.session_state.get("wall-seen")
    if seen is None or seen["code"] != code or seen["revision"] != room.revision:
        # First look, or a drawing was hidden or shown: read the room again.
        seen = {"code": code, "revision": room.revision, "last": 0, "drawings": []}
        fresh = store().drawings(code)
        seen["drawings"] = fresh
    else:
        fresh = store().drawings(code, after=seen["last"])
        seen["drawings"].extend(fresh)
    if fresh:
        seen["last"] = fresh[-1].id
    st.session_state["wall-seen"] = seen
    return room, seen["drawings"]


WAITING = (
    "Waiting for the room's database: drawings sent now wait on the phones, and the wall "
    "catches up by itself."
)


def board_of(room: rules.Room, drawings: list[rules.Drawing]) -> scoreboard.Scoreboard:
    """The scoreboard, computed again only when a drawing arrived or was hidden or shown."""
    key = (room.code, room.revision, drawings[-1].id if drawings else 0)
    cached = st.session_state.get("wall-board")
    if cached is None or cached[0] != key:
        cached = (key, scoreboard.scoreboard(drawings, list(networks.keys())))
        st.session_state["wall-board"] = cached
    return cached[1]


@st.fragment(run_every=REFRESH_S)
def live(code: str) -> None:
    """Everything that changes as phones send; re-read every REFRESH_S seconds."""
    try:
        room, drawings = new_drawings(code)
        people = store().participants(code)
        st.session_state["wall-last"] = (room, people)
    except rules.StoreUnavailable:
        # The database is away for a moment: say so, keep showing what this wall last
        # read, and catch up by itself at a later look.
        st.html(f'<div class="wall-waiting" id="wall-waiting" role="status">{WAITING}</div>')
        seen, last = st.session_state.get("wall-seen"), st.session_state.get("wall-last")
        if not seen or seen["code"] != code or not last or last[0].code != code:
            return
        (room, people), drawings = last, seen["drawings"]
    except rules.RoomError as exc:
        st.error(room_visitor.plain(exc))
        return
    nets = list(networks.keys())
    board = board_of(room, drawings)
    last = drawings[-1].id if drawings else 0
    left, right = st.columns([11, 9], gap="medium")
    left.html(room_tiles.tiles_html(drawings[::-1][:TILES], nets))
    right.html(
        room_tiles.stats_html(room, board, people, last)
        + room_tiles.score_html(board, nets)
        + room_tiles.highlights_html(board, nets)
        + room_teach.result_html(room.code)  # the last teach job of this room, if any
    )


def header(room: rules.Room) -> None:
    """Code, QR code and join URL, large."""
    url = room_join.join_url(
        room.code, int(st.get_option("server.port") or 8501), st.get_option("server.address")
    )
    # An <img> of the SVG: the page's HTML sanitiser keeps images, not inline SVG.
    qr = base64.b64encode(room_join.qr_svg(url, scale=8).encode()).decode()
    st.html(
        f'<div class="wall-head"><img class="wall-qr" id="wall-qr" '
        f'alt="QR code of {html.escape(url)}" src="data:image/svg+xml;base64,{qr}"><div>'
        f'<div class="wall-title">{html.escape(room.title)}</div>'
        f'<div class="wall-code" id="wall-code">{rules.shown_code(room.code)}</div>'
        f'<div class="wall-url" id="wall-url">{html.escape(url)}</div></div></div>'
    )


def main() -> None:
    code = st.query_params.get("room")
    if not code:
        room_panel.lobby()
        return
    if st.query_params.get("view") == room_panel.VIEW:
        room_panel.panel(code)
        return
    try:
        room = room_visitor.find_room(store(), code)
    except (rules.RoomNotFound, rules.TooManyTries) as exc:
        st.error(room_visitor.plain(exc))
        room_panel.lobby()
        return
    styles.put_style("wall-audience.css")
    header(room)
    live(room.code)


styles.page_style(False)
styles.put_style("wall.css")
try:
    main()
except rules.RoomError as exc:  # the store itself (unreadable, locked): one sentence
    st.error(room_visitor.plain(exc))
