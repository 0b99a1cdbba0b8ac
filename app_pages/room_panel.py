"""The presenter's panel (`/wall?room=CODE&view=presenter`) and the lobby (`/wall`).

The panel is a second view of the room for the presenter's own screen, so the audience
view on the projector carries no controls or setup warnings: here are the unlock, the
warning when phones cannot reach the server, the room's controls (open, pick, pause,
close, export) and, refreshed every second, the latest drawings as tiles with a Hide
button each and the hidden ones with Show again. A hide reaches every open wall at its
next look (a second): hiding bumps the room's revision, and walls re-read on a change.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable

import streamlit as st

from app_pages import common, presenter_ui, room_tiles, room_visitor
from mnist_models import text
from mnist_models.addresses import is_local_address
from mnist_models.nets import networks
from mnist_models.rooms import exchange, rules
from mnist_models.rooms import join as room_join
from mnist_models.rooms import store as room_store

VIEW = "presenter"  # ?view= of the panel
REFRESH_S = rules.WALL_REFRESH_S
LATEST = 12  # the latest drawings offered to hide
HIDDEN_SHOWN = 24  # hidden drawings offered to show again, newest first
ERROR_KEY = "wall-error"


def store() -> room_store.Rooms:
    """The room store this server shares between its sessions."""
    return room_store.shared_store(room_store.store_url())


def audience_url(code: str) -> str:
    """The audience view of the room, relative to this page (for the projector)."""
    return "wall?" + urllib.parse.urlencode({"room": code})


def go_to(code: str) -> None:
    """Show this room's panel."""
    st.query_params.from_dict({"room": code, "view": VIEW})


def act(what: str, action: Callable[[], None], rerun: bool = True) -> None:
    """Run a room action for the presenter only; a refusal or an error is one sentence."""
    try:
        presenter_ui.require(what)
        action()
    except (presenter_ui.NotPresenter, rules.RoomError) as exc:
        st.session_state[ERROR_KEY] = str(exc)
    if rerun:
        st.rerun()


def set_hidden(code: str, drawing_id: int, hidden: bool) -> None:
    """A Hide or Show again button's callback (the fragment reruns by itself after it)."""
    what = "hide a drawing" if hidden else "show a drawing again"
    act(what, lambda: store().set_hidden(code, drawing_id, hidden), rerun=False)


def setup_warning() -> None:
    """When phones cannot reach this server: say so and give the command that fixes it."""
    if is_local_address(st.get_option("server.address")) and not room_join.public_url():
        st.warning(
            "Phones cannot reach this server: it listens on this computer only. Restart it "
            "with this command, then phones on the same network can scan the code:",
            icon=":material/wifi_off:",
        )
        st.code(room_join.OPEN_COMMAND, language=None, wrap_lines=True)  # plain: both themes


def gate() -> bool:
    """The unlock control; whether this session may run the room."""
    presenter_ui.control("wall-presenter")
    if err := st.session_state.pop(ERROR_KEY, None):
        st.error(room_visitor.plain(err))
    if not presenter_ui.is_presenter():
        st.caption(
            "The presenter opens, pauses and closes rooms and hides drawings, after unlocking."
        )
        return False
    return True


def open_and_pick(room: rules.Room | None) -> None:
    """Open a new room, or pick one of the rooms in the store."""
    new, pick = st.columns(2)
    with new.form("open-room", border=False):
        title = st.text_input(
            "Title of a new room", max_chars=rules.MAX_TITLE, placeholder="e.g. Year 10 maths"
        )
        if st.form_submit_button("Open a new room", type="primary", icon=":material/add_circle:"):
            act("open a room", lambda: go_to(store().create_room(title).code))
    found = store().list_rooms()
    if found:
        labels = {r.code: f"{rules.shown_code(r.code)} · {r.title} · {r.state}" for r in found}
        chosen = pick.selectbox(
            "Show a room",
            list(labels),
            format_func=labels.get,
            index=list(labels).index(room.code) if room else None,
            placeholder="Choose a room",
        )
        if chosen and (room is None or chosen != room.code):
            go_to(chosen)
            st.rerun()


def controls(room: rules.Room) -> None:
    """Pause or resume, close, export, and the audience view for the projector."""
    code = room.code
    b = st.columns(4, vertical_alignment="bottom")
    if room.state == "open":
        if b[0].button("Pause sending", icon=":material/pause:", width="stretch"):
            act("pause a room", lambda: store().set_state(code, "paused"))
    elif b[0].button("Open for sending", icon=":material/play_arrow:", width="stretch"):
        act("open a room", lambda: store().set_state(code, "open"))
    if room.state != "closed" and b[1].button(
        "Close the room", icon=":material/lock:", width="stretch"
    ):
        act("close a room", lambda: store().set_state(code, "closed"))
    # Made when pressed, outside this script run (so no session check can run there):
    # the button exists only in a presenter's session.
    b[2].download_button(
        "Export the room (zip)",
        data=functools.partial(exchange.export_room, store(), code),
        file_name=f"room-{code}.zip",
        mime="application/zip",
        icon=":material/download:",
        width="stretch",
        on_click="ignore",
    )
    b[3].link_button(
        "Audience wall (projector)",
        audience_url(code),
        icon=":material/open_in_new:",
        width="stretch",
    )


@st.fragment(run_every=REFRESH_S)
def moderation(code: str) -> None:
    """The latest drawings, each with Hide, and the hidden ones with Show again: read
    afresh every second, so the list is never behind the wall."""
    if not presenter_ui.is_presenter():
        return
    nets = list(networks.keys())
    try:
        latest = store().drawings(code, newest_first=True, limit=LATEST)
        hidden = store().drawings(code, hidden_only=True, newest_first=True, limit=HIDDEN_SHOWN)
    except rules.RoomError as exc:
        st.error(room_visitor.plain(exc))
        return
    st.html('<div class="panel-title">Latest drawings: hide one from every wall</div>')
    if not latest:
        st.html('<div class="wall-empty">No drawings on the wall.</div>')
    cols = st.columns(4)
    for i, d in enumerate(latest):
        with cols[i % 4]:
            st.html(room_tiles.tile_html(d, nets, new=False))
            st.button(
                f"Hide #{d.id}",
                key=f"wall-hide-{d.id}",
                icon=":material/visibility_off:",
                on_click=set_hidden,
                args=(code, d.id, True),
            )
    st.html(f'<div class="panel-title">Hidden drawings ({len(hidden)})</div>')
    cols = st.columns(6)
    for i, d in enumerate(hidden):
        with cols[i % 6]:
            st.html(
                f'<div class="hidden-tile" id="hidden-{d.id}">'
                f'<img src="{room_tiles.png_uri(d)}" alt="hidden drawing {d.id}">#{d.id}</div>'
            )
            st.button(
                f"Show #{d.id} again",
                key=f"wall-show-{d.id}",
                icon=":material/visibility:",
                on_click=set_hidden,
                args=(code, d.id, False),
            )


def panel(code: str) -> None:
    """The presenter's panel for room `code`."""
    try:
        room = room_visitor.find_room(store(), code)
    except (rules.RoomNotFound, rules.TooManyTries) as exc:
        st.error(room_visitor.plain(exc))
        lobby()
        return
    st.html(
        f'<div class="panel-head">Presenter panel · room '
        f"<code>{rules.shown_code(room.code)}</code> · {room.state}</div>"
    )
    if not gate():
        return
    setup_warning()
    with st.expander("Rooms", icon=":material/tune:"):
        open_and_pick(room)
    controls(room)
    moderation(room.code)


def lobby() -> None:
    """No room chosen: open one, or pick one (the presenter), after a word on what it is."""
    st.markdown("## Audience wall")
    nets = common.listed([f"the {text.md_escape(n)}" for n in common.names().values()])
    st.markdown(
        "Open a room: everyone scans its code, draws a digit on their phone, and the "
        f"room's wall shows how {nets} read the room's handwriting."
    )
    if gate():
        setup_warning()
        open_and_pick(None)
