"""The room's wall (`/wall?room=CODE`), for the projector: live tiles, scoreboard, controls."""

from __future__ import annotations

import base64
import functools
import html
import io
from collections.abc import Callable

import streamlit as st
from PIL import Image

from app_pages import common, presenter_ui, styles
from mnist_models import text
from mnist_models.addresses import is_local_address
from mnist_models.nets import networks
from mnist_models.rooms import exchange, rules, scoreboard
from mnist_models.rooms import join as room_join
from mnist_models.rooms import store as room_store

TILES = 12  # newest drawings shown as large tiles
MAX_TILES = 60  # at most this many when a burst arrives between two looks
HIGHLIGHTS = 8  # per highlight row
REFRESH_S = 1.0  # the wall reads new drawings this often (the goal: on the wall within 2 s)


def store() -> room_store.Rooms:
    """The room store this server shares between its sessions."""
    return room_store.shared_store(room_store.store_url())


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def png_uri(d: rules.Drawing) -> str:
    """The drawing's 28x28 image as an inline PNG, ink dark on white (made once per drawing)."""
    cache = st.session_state.setdefault("wall-png", {})
    if d.id not in cache:
        buf = io.BytesIO()
        Image.fromarray(255 - d.pixels()).save(buf, format="PNG")
        cache[d.id] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return cache[d.id]


def tile_html(d: rules.Drawing, nets: list[str], new: bool) -> str:
    """One drawing: its image, each network's answer, right or wrong once labelled."""
    cells = []
    for k in nets:
        a = d.answers.get(k)
        if a is None:
            continue
        net = networks.get(k)
        right = d.right(k)
        mark = "" if right is None else ("✓" if right else "✗")
        cls = "" if right is None else (" ta-right" if right else " ta-wrong")
        cells.append(
            f'<div class="ta"><div class="ta-name">{html.escape(net.name)}</div>'
            f'<div class="ta-digit" style="color:{net.colour}">'
            f'{a.digit}</div><div class="ta-mark{cls}">{mark}</div></div>'
        )
    meant = f"meant {d.label}" if d.label is not None else "no label"
    who = f" · {html.escape(d.nickname)}" if d.nickname else ""
    return (
        f'<div class="tile{" tile-new" if new else ""}" id="tile-{d.id}" '
        f'data-label="{"" if d.label is None else d.label}">'
        f'<div><img src="{png_uri(d)}" alt="drawing {d.id}">'
        f'<div class="tile-foot">#{d.id} · {meant}{who}</div></div>'
        f'<div class="tile-answers">{"".join(cells)}</div></div>'
    )


def score_html(board: scoreboard.Scoreboard, nets: list[str]) -> str:
    """Each network's accuracy on the labelled drawings, per digit, and what it confuses."""
    parts = []
    for k in nets:
        net, s = networks.get(k), board.nets[k]
        acc = "–" if s.accuracy is None else f"{s.accuracy:.0%}"
        digits = "".join(
            f'<span title="digit {d}">{d}: {r}/{n}</span>' for d, (r, n) in s.per_digit.items()
        )
        confused = ", ".join(f"{m}→{r} ×{n}" for (m, r), n in s.confused) or "nothing yet"
        parts.append(
            f'<div class="score-net" id="score-{k}" style="--net-colour:{net.colour}">'
            f'<div class="score-name">{html.escape(net.name)}</div>'
            f'<div class="score-acc">{acc}</div>'
            f'<div class="score-count" data-right="{s.right}" data-labelled="{s.labelled}">'
            f"{s.right} right of {s.labelled} labelled</div>"
            f'<div class="score-digits">{digits}</div>'
            f'<div class="score-confused">Confuses most: {confused}</div></div>'
        )
    return f'<div class="score">{"".join(parts)}</div>'


def highlights_html(board: scoreboard.Scoreboard, nets: list[str]) -> str:
    """Drawings only one network read right, and drawings that stumped every network."""

    def row(ds: list[rules.Drawing]) -> str:
        if not ds:
            return '<div class="hl-none">None yet.</div>'
        cells = []
        for d in ds[:HIGHLIGHTS]:
            reads = " ".join(
                f'<span class="hl-read" style="color:{networks.get(k).colour}">'
                f"{d.answers[k].digit}</span>"
                for k in nets
                if k in d.answers
            )
            cells.append(
                f'<div class="hl"><img src="{png_uri(d)}" alt="drawing {d.id}">'
                f"meant {d.label} · {reads}</div>"
            )
        return f'<div class="hl-row">{"".join(cells)}</div>'

    return (
        f'<div class="hl-title">Only one network right ({len(board.only_one_right)})</div>'
        f"{row(board.only_one_right)}"
        f'<div class="hl-title">Stumped {common.both(len(nets))} ({len(board.both_wrong)})</div>'
        f"{row(board.both_wrong)}"
    )


def new_drawings(code: str) -> tuple[rules.Room, list[rules.Drawing], set[int]]:
    """The room now and its visible drawings, reading only rows this session has not seen."""
    room = store().get_room(code)
    seen = st.session_state.get("wall-seen")
    if seen is None or seen["code"] != code or seen["revision"] != room.revision:
        # First look, or a drawing was hidden or shown: read the room again.
        seen = {"code": code, "revision": room.revision, "last": 0, "drawings": []}
        fresh = store().drawings(code)
        seen["drawings"] = fresh
        new_ids: set[int] = set()
    else:
        fresh = store().drawings(code, after=seen["last"])
        seen["drawings"].extend(fresh)
        new_ids = {d.id for d in fresh}
    if fresh:
        seen["last"] = fresh[-1].id
    st.session_state["wall-seen"] = seen
    return room, seen["drawings"], new_ids


@st.fragment(run_every=REFRESH_S)
def live(code: str) -> None:
    """Everything that changes as phones send; re-read every REFRESH_S seconds."""
    try:
        room, drawings, new_ids = new_drawings(code)
    except rules.RoomError as exc:
        st.error(str(exc))
        return
    nets = list(networks.keys())
    key = (room.revision, drawings[-1].id if drawings else 0)
    cached = st.session_state.get("wall-board")
    if cached is None or cached[0] != key:
        cached = (key, scoreboard.scoreboard(drawings, nets))
        st.session_state["wall-board"] = cached
    board = cached[1]
    people = store().participants(code)
    st.html(
        f'<div class="wall-stats" id="wall-stats" data-drawings="{board.drawings}" '
        f'data-people="{people}">{people} taking part · {plural(board.drawings, "drawing")} · '
        f"{board.labelled} labelled"
        f'<span class="wall-state wall-state-{room.state}">{room.state}</span></div>'
    )
    left, right = st.columns([11, 9], gap="large")
    with left:
        # Every drawing gets its moment as a tile: when more arrived since the last
        # look than the wall usually shows (a big room), this look shows them all.
        newest = drawings[::-1][: min(MAX_TILES, max(TILES, len(new_ids)))]
        if newest:
            st.html(
                '<div class="tiles" id="tiles">'
                + "".join(tile_html(d, nets, d.id in new_ids) for d in newest)
                + "</div>"
            )
        else:
            st.html(
                '<div class="hl-none" id="tiles">No drawings yet: scan the code and '
                "draw a digit on your phone.</div>"
            )
    with right:
        st.html(score_html(board, nets))
        st.html(highlights_html(board, nets))


def header(room: rules.Room) -> None:
    """Code, QR code and join URL, large; a warning when phones cannot reach this server."""
    url = room_join.join_url(
        room.code, int(st.get_option("server.port") or 8501), st.get_option("server.address")
    )
    # An <img> of the SVG: the page's HTML sanitiser keeps images, not inline SVG.
    qr = base64.b64encode(room_join.qr_svg(url, scale=8).encode()).decode()
    join, side = st.columns([3, 2], vertical_alignment="center")
    join.html(
        f'<div class="wall-head"><img class="wall-qr" id="wall-qr" '
        f'alt="QR code of {html.escape(url)}" src="data:image/svg+xml;base64,{qr}"><div>'
        f'<div class="wall-title">{html.escape(room.title)}</div>'
        f'<div class="wall-code" id="wall-code">{room.code}</div>'
        f'<div class="wall-url" id="wall-url">{html.escape(url)}</div></div></div>'
    )
    with side:
        if is_local_address(st.get_option("server.address")) and not room_join.public_url():
            st.warning(
                "Phones cannot reach this server: it listens on this computer only. "
                "Restart it with this command, then phones on the same network can "
                "scan the code:",
                icon=":material/wifi_off:",
            )
            st.code(room_join.OPEN_COMMAND, language=None, wrap_lines=True)  # plain: both themes
        controls(room)


def act(what: str, action: Callable[[], None]) -> None:
    """Run a room action for the presenter only; a refusal or an error is one sentence."""
    try:
        presenter_ui.require(what)
        action()
    except (presenter_ui.NotPresenter, rules.RoomError) as exc:
        st.session_state["wall-error"] = str(exc)
    st.rerun()


def open_room(title: str) -> None:
    st.query_params["room"] = store().create_room(title).code


def controls(room: rules.Room | None) -> None:
    """The presenter's controls: open, pick, pause/resume, close/reopen, hide, export."""
    presenter_ui.control("wall-presenter")
    if err := st.session_state.pop("wall-error", None):
        st.error(err)
    if not presenter_ui.is_presenter():
        st.caption("The presenter opens, pauses and closes rooms, after unlocking.")
        return
    with st.expander("Room controls", icon=":material/tune:", expanded=room is None):
        new, pick = st.columns(2)
        with new.form("open-room", border=False):
            title = st.text_input(
                "Title of a new room", max_chars=rules.MAX_TITLE, placeholder="e.g. Year 10 maths"
            )
            if st.form_submit_button(
                "Open a new room", type="primary", icon=":material/add_circle:"
            ):
                act("open a room", lambda: open_room(title))
        found = store().list_rooms()
        if found:
            labels = {r.code: f"{r.code} · {r.title} · {r.state}" for r in found}
            chosen = pick.selectbox(
                "Show a room",
                list(labels),
                format_func=labels.get,
                index=list(labels).index(room.code) if room else None,
                placeholder="Choose a room",
            )
            if chosen and (room is None or chosen != room.code):
                st.query_params["room"] = chosen
                st.rerun()
        if room is None:
            return
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
        ids = [d.id for d in store().drawings(code)][::-1][:100]  # newest first
        hide = b[2].selectbox(
            "Hide a drawing",
            ids,
            index=None,
            placeholder="drawing #",
            format_func=lambda i: f"#{i}",
            key="wall-hide",
        )
        if hide is not None and b[2].button("Hide it", icon=":material/visibility_off:"):
            act("hide a drawing", lambda: store().set_hidden(code, hide))
        # Made when pressed, outside this script run (so no session check can run
        # there): the button exists only in a presenter's session.
        b[3].download_button(
            "Export the room (zip)",
            data=functools.partial(exchange.export_room, store(), code),
            file_name=f"room-{code}.zip",
            mime="application/zip",
            icon=":material/download:",
            width="stretch",
            on_click="ignore",
        )


def main() -> None:
    code = st.query_params.get("room")
    room = None
    if code:
        try:
            room = store().get_room(code)
        except rules.RoomNotFound as exc:
            st.error(str(exc))
    if room is None:
        st.markdown("## Audience wall")
        nets = common.listed([f"the {text.md_escape(n)}" for n in common.names().values()])
        st.markdown(
            "Open a room: everyone scans its code, draws a digit on their phone, and "
            f"this wall shows how {nets} read the room's handwriting."
        )
        controls(None)
        return
    header(room)
    live(room.code)


styles.page_style(False)
styles.put_style("wall.css")
try:
    main()
except rules.RoomError as exc:  # the store itself (unreadable, locked): one sentence
    st.error(str(exc))
