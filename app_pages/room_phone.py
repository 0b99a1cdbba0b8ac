"""The audience phone page (`/join?room=CODE`): draw a digit, see the answers, label, send.

A phone is one participant across reloads, reconnections and restarts of the server (the
signed id its browser keeps: room_visitor.participant), with the name it gave. It follows
the room every FOLLOW_S seconds without a reload (paused, resumed, closed, a drawing of
its own hidden by the presenter), and a drawing not yet sent is kept in the browser
(room_keep) and offered again when the page comes back.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import logging
import threading
import time

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from app_pages import (
    answers,
    browser_store,
    canvas,
    common,
    inuse,
    room_keep,
    room_visitor,
    styles,
)
from mnist_models.nets import checkpoint
from mnist_models.reading import canvas as canvas_data
from mnist_models.reading import pen, raster
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

PEN = 28
FOLLOW_S = rules.PHONE_FOLLOW_S  # how often a phone looks at its room (paused, closed, hidden)
ROOM_TTL_S = rules.ROOM_TTL_S  # a room's state is read at most this often per server
HIDDEN_NOTICE_S = 30.0  # "the presenter hid your drawing" stays this long
# A Send the room's database refused (away for a moment): the drawing stays on the canvas
# and in the browser (room_keep), so nothing is lost.
STORE_AWAY = (
    "Not sent: the room's database is not answering right now. Your drawing is kept here: "
    "press Send again in a moment."
)
log = logging.getLogger(__name__)


def store() -> room_store.Rooms:
    """The room store this server shares between its sessions."""
    return room_store.shared_store(room_store.store_url())


@st.cache_resource(show_spinner=False)
def _rooms_now() -> dict:
    return {"lock": threading.Lock(), "rooms": {}}


def room_now(code: str) -> tuple[rules.Room, dict[int, str]]:
    """The room and its hidden drawings (id -> participant), as every phone on this server
    shares them: read from the store at most every ROOM_TTL_S seconds, the hidden ones
    only when the room's revision moved (a drawing was hidden or shown)."""
    cache = _rooms_now()
    now = time.monotonic()
    with cache["lock"]:
        hit = cache["rooms"].get(code)
    if hit is not None and now - hit[0] < ROOM_TTL_S:
        return hit[1], hit[2]
    room = store().get_room(code)
    hidden = hit[2] if hit is not None and hit[1].revision == room.revision else None
    if hidden is None:
        hidden = store().hidden(code)
    with cache["lock"]:
        cache["rooms"][code] = (now, room, hidden)
    return room, hidden


def read_drawing(json_data) -> tuple[raster.Preprocessed | None, list]:
    """The canvas's data -> (the 28x28 input or None, the strokes); ValueError if unreadable."""
    strokes = canvas_data.strokes_from_fabric(json_data)
    return pen.from_strokes(strokes), strokes


def answers_for(strokes_key: str, pre: raster.Preprocessed, uses: dict[str, inuse.InUse]):
    """Every network's reading (answers and not-a-digit verdicts), computed once per drawing
    and models in use."""
    key = (strokes_key, tuple(u.version.id for u in uses.values()))
    cached = st.session_state.get("room-preds")
    if cached and cached[0] == key:
        return cached[1]
    reading = inuse.read_drawing(pre, uses)
    st.session_state["room-preds"] = (key, reading)
    return reading


def send(code: str) -> None:
    """Send's callback: store the drawing the answers were shown for, then a fresh canvas.

    As a callback it runs before the fragment does, so a Send costs one run, not two.
    """
    gen = st.session_state.get("room-gen", 0)
    pending = st.session_state.get("room-pending")
    if not pending or pending[0] != gen:
        return
    _, image, stroke_json, answers, not_digit = pending
    label = st.session_state.get(f"room-labels-{gen}")
    nickname = st.session_state.get("room-nick")
    try:
        sent = store().add_drawing(
            code,
            room_visitor.participant(store()),
            image,
            stroke_json,
            answers,
            label=label,
            nickname=nickname,
            not_digit=not_digit,
            client=room_visitor.client_address(),
        )
    except rules.StoreUnavailable:
        st.session_state["room-error"] = STORE_AWAY
        return
    except rules.RoomError as exc:
        st.session_state["room-error"] = str(exc)
        return
    room_visitor.keep_nickname(nickname)
    what = f"your {label}" if label is not None else "your drawing"
    st.session_state["room-sent"] = f"Sent {what} to the wall (#{sent.id}). Draw the next one!"
    st.session_state["room-gen"] = gen + 1  # a fresh, empty canvas
    st.session_state.pop("room-pending", None)
    st.session_state["room-restored"] = ""


def forget() -> None:
    """Forget the kept drawing (the browser's copy goes at the next run)."""
    st.session_state["room-restored"] = ""


def png_uri(image) -> str:
    """A 28x28 image in [0, 1], ink white on black as the networks see it, as a PNG for the
    page (ink dark on white)."""
    buf = io.BytesIO()
    img = np.frombuffer(rules.image_bytes(image), np.uint8).reshape(28, 28)
    Image.fromarray(255 - img).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def keep_name() -> None:
    """The name box's callback: this browser keeps the name (written in the run after)."""
    room_visitor.keep_nickname(st.session_state.get("room-nick"))


@st.fragment
def draw_and_send(code: str) -> None:
    """Canvas, answers, label and Send: a stroke or a tap reruns only this part."""
    uses = inuse.models_in_use()
    gen = st.session_state.setdefault("room-gen", 0)
    if gen == 0 and "room-restored" not in st.session_state and (kept := room_keep.kept()):
        st.session_state["room-restored"] = kept  # the drawing this browser kept, unsent
    restored = st.session_state.get("room-restored")
    left, right = st.columns([5, 6], gap="large")
    with left:
        st.html(canvas.head_html("One digit, anywhere, any size."))
        try:
            json_data = st_canvas(
                stroke_width=PEN,
                stroke_color="#000000",
                background_color="#ffffff",
                height=canvas.SIZE,
                width=canvas.SIZE,
                drawing_mode="freedraw",
                key=f"room-canvas-{gen}",
            ).json_data
        except RecursionError:  # Streamlit parses the canvas's state itself, with no depth bound
            st.error(f"This drawing cannot be read: {canvas_data.MALFORMED}")
            json_data = None
    with right:
        pre, stroke_json = answers_part(code, uses, gen, json_data, restored)
        # Choosing a digit or typing a name costs the server nothing until Send.
        st.pills(
            "Which digit did you mean?",
            list(range(10)),
            key=f"room-labels-{gen}",
            on_change="ignore",
            wrap=True,
        )
        st.button(
            "Send",
            type="primary",
            icon=":material/send:",
            width="stretch",
            key="room-send",
            disabled=pre is None,
            on_click=send,
            args=(code,),
        )
    with st._event:  # outside the layout: no room taken
        room_keep.tell(code, stroke_json)
        browser_store.flush("room-store")


def answers_part(code: str, uses: dict, gen: int, json_data, restored: str | None):
    """Messages and both answers for what the canvas holds; (the input, its strokes text)."""
    if err := st.session_state.pop("room-error", None):
        st.error(room_visitor.plain(err), icon=":material/block:")
    try:
        pre, strokes = read_drawing(json_data)
    except ValueError as exc:  # a drawing the reader refuses (too many strokes, bad data)
        st.error(room_visitor.plain(f"This drawing cannot be read: {exc}"))
        pre, strokes = None, []
    if pre is not None:
        st.session_state["room-restored"] = restored = ""  # a new drawing takes its place
    elif restored:
        # The drawing this browser kept, offered again while the canvas is empty.
        try:
            pre, strokes = pen.from_strokes(canvas_data.decode_strokes(restored)), None
        except ValueError:  # not what this page keeps (the browser's storage was changed)
            st.session_state["room-restored"] = restored = ""
    st.session_state.pop("room-pending", None)
    # "Sent" stays until the next drawing begins.
    if pre is not None:
        st.session_state.pop("room-sent", None)
    elif sent := st.session_state.get("room-sent"):
        st.success(room_visitor.plain(sent), icon=":material/check_circle:")
    if room_keep.failed():
        st.caption(
            "This browser cannot keep a drawing that is not sent yet: if the connection "
            "drops before you press Send, you will have to draw it again."
        )
    if pre is None:
        st.html(
            '<div class="verdict" role="status" aria-live="polite" id="verdict">'
            f"Draw a digit: {common.both(len(uses))} networks will read it.</div>"
        )
        return None, None
    try:
        stroke_json = restored if strokes is None else canvas_data.encode_strokes(strokes)
    except canvas_data.DrawingRejected as exc:
        st.error(room_visitor.plain(exc))
        return None, None
    if restored:
        st.html(
            '<div class="room-kept" id="room-kept" role="status">'
            f'<img src="{png_uri(pre.image)}" alt="your drawing that was not sent">'
            "<div>Your drawing from before the connection dropped was kept: send it, or "
            "draw another.</div></div>"
        )
        st.button("Forget it", key="room-forget", icon=":material/delete:", on_click=forget)
    reading = answers_for(hashlib.sha1(stroke_json.encode()).hexdigest(), pre, uses)
    preds = {k: r.prediction for k, r in reading.networks.items()}
    st.html(answers.answers_html(uses, reading, detail=False))
    st.session_state["room-pending"] = (
        gen,
        rules.image_bytes(pre.image),
        stroke_json,
        {k: rules.Answer(tuple(p.probs), uses[k].version.id) for k, p in preds.items()},
        True if reading.several else reading.not_digit,  # "42" is not one digit: not scored
    )
    return pre, stroke_json


def head_html(room: rules.Room) -> str:
    """The room's line at the top: its code and title, and what it does now."""
    state = {
        "open": "",
        "paused": "Paused by the presenter: draw, and send when it reopens.",
        "closed": "Closed.",
    }[room.state]
    banner = f'<div class="room-state">{state}</div>' if state else ""
    return (
        f'<div class="room-head room-head-{room.state}" id="room-head" role="status" '
        f'aria-live="polite" data-state="{room.state}">'
        f"<div>Room <code>{rules.shown_code(room.code)}</code> · "
        f"{html.escape(room.title)}</div>{banner}</div>"
    )


@st.fragment(run_every=FOLLOW_S)
def follow(code: str, shown: str) -> None:
    """The room's line, kept up to date: paused and resumed here, closed or reopened by
    running the whole page again; and a word when the presenter hides one of our drawings."""
    try:
        room, hidden = room_now(code)
    except rules.RoomError:
        return  # the store is away for a moment: keep what is shown
    if (room.state == "closed") != (shown == "closed"):
        st.rerun(scope="app")
    st.html(head_html(room))
    me = st.session_state.get(room_visitor.PARTICIPANT_KEY)
    seen = st.session_state.setdefault("room-hidden-seen", {})
    now = time.monotonic()
    mine = sorted(i for i, p in hidden.items() if p == me)
    for i in mine:
        seen.setdefault(i, now)
    recent = [i for i in mine if now - seen[i] < HIDDEN_NOTICE_S]
    if recent:
        which = ", ".join(f"#{i}" for i in recent)
        st.html(
            f'<div class="room-hidden" id="room-hidden" role="status">The presenter hid '
            f"your drawing {which} from the wall.</div>"
        )


def ask_for_code(message: str | None = None) -> None:
    """No usable code in the address: say why and let the visitor type one."""
    st.markdown("## Join a room")
    if message:
        st.error(room_visitor.plain(message), icon=":material/error:")
    with st.form("join"):
        typed = st.text_input("Room code (on the wall)", max_chars=12)
        if st.form_submit_button("Join", type="primary"):
            try:
                st.query_params["room"] = rules.clean_code(typed)
            except rules.RoomError as exc:
                st.session_state["room-join-error"] = str(exc)
            st.rerun()
    if err := st.session_state.pop("room-join-error", None):
        st.error(room_visitor.plain(err))


def closed(room: rules.Room) -> None:
    """A closed room: thanks, and the way to the next one; reopened, the page comes back."""
    follow(room.code, "closed")
    # Plain text, never markdown: a title comes from whoever opened or imported the room.
    st.html(f'<h2 class="room-title">{html.escape(room.title)}</h2>')
    st.info(
        "This room is closed: thank you for taking part! Ask the presenter for the "
        "code of the next one.",
        icon=":material/door_front:",
    )
    ask_for_code()


def main() -> None:
    code = st.query_params.get("room")
    if not code:
        ask_for_code()
        return
    try:
        room = room_visitor.find_room(store(), code)
        me = room_visitor.participant(store())
        if room.state != "closed" and st.session_state.get("room-joined") != room.code:
            nick = st.session_state.get("room-nick") or room_visitor.kept_nickname()
            store().join(room.code, me, nick or None, client=room_visitor.client_address())
            st.session_state["room-joined"] = room.code
    except rules.TooManyNew as exc:
        st.error(room_visitor.plain(exc), icon=":material/group_off:")
        return
    except rules.RoomError as exc:
        ask_for_code(str(exc))
        return
    if room.state == "closed":
        closed(room)
        return
    try:
        inuse.models_in_use()
    except (checkpoint.CheckpointError, KeyError) as exc:
        log.warning("the networks cannot be loaded: %s", exc)  # may name files: the log only
        st.error("The networks cannot be loaded on this server: tell the presenter.")
        return
    common.freeze_gc()
    follow(room.code, room.state)
    draw_and_send(room.code)
    name_box()
    canvas.fixes()


def name_box() -> None:
    """The name shown with this phone's drawings. Outside the drawing part, so that its runs
    (two per drawing) do not build it again; typing a name reruns the page once, and the
    browser keeps the name (a reload keeps it)."""
    st.session_state.setdefault("room-nick", room_visitor.kept_nickname())
    st.text_input(
        "Your name on the wall (optional)",
        key="room-nick",
        max_chars=rules.MAX_NICKNAME,
        on_change=keep_name,
        placeholder="anonymous",
        width=420,
    )


styles.page_style(False)
styles.put_style("phone.css")
main()
browser_store.flush("room-store")  # the participant's token, on a page without the canvas
