"""The audience phone page (`/join?room=CODE`): draw a digit, see the answers, label, send."""

from __future__ import annotations

import hashlib
import html
import secrets

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import answers, canvas, common, inuse, styles
from mnist_models.nets import checkpoint
from mnist_models.reading import canvas as canvas_data
from mnist_models.reading import pen, raster
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store

PEN = 28


def store() -> room_store.Rooms:
    """The room store this server shares between its sessions."""
    return room_store.shared_store(room_store.store_url())


def participant() -> str:
    """An anonymous id for this browser session (nothing about the person)."""
    return st.session_state.setdefault("room-participant", secrets.token_hex(8))


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
    _, image, stroke_json, answers = pending
    label = st.session_state.get(f"room-labels-{gen}")
    try:
        store().add_drawing(
            code,
            participant(),
            image,
            stroke_json,
            answers,
            label=label,
            nickname=st.session_state.get("room-nick"),
        )
    except rules.RoomError as exc:
        st.session_state["room-error"] = str(exc)
        return
    what = f"your {label}" if label is not None else "your drawing"
    st.session_state["room-sent"] = f"Sent {what} to the wall. Draw the next one!"
    st.session_state["room-gen"] = gen + 1  # a fresh, empty canvas
    st.session_state.pop("room-pending", None)


@st.fragment
def draw_and_send(code: str) -> None:
    """Canvas, answers, label and Send: a stroke or a tap reruns only this part."""
    uses = inuse.models_in_use()
    gen = st.session_state.setdefault("room-gen", 0)
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
        if err := st.session_state.pop("room-error", None):
            st.error(err, icon=":material/block:")
        try:
            pre, strokes = read_drawing(json_data)
        except ValueError as exc:  # a drawing the reader refuses (too many strokes, bad data)
            st.error(f"This drawing cannot be read: {exc}")
            pre, strokes = None, []
        st.session_state.pop("room-pending", None)
        # "Sent" stays until the next drawing begins (the fresh canvas's first report
        # reruns this part too).
        if pre is not None:
            st.session_state.pop("room-sent", None)
        elif sent := st.session_state.get("room-sent"):
            st.success(sent, icon=":material/check_circle:")
        if pre is None:
            st.html(
                '<div class="verdict" role="status" aria-live="polite" id="verdict">'
                f"Draw a digit: {common.both(len(uses))} networks will read it.</div>"
            )
        else:
            try:
                stroke_json = canvas_data.encode_strokes(strokes)
            except canvas_data.DrawingRejected as exc:
                st.error(str(exc))
                pre = None
            else:
                reading = answers_for(hashlib.sha1(stroke_json.encode()).hexdigest(), pre, uses)
                preds = {k: r.prediction for k, r in reading.networks.items()}
                st.html(answers.answers_html(uses, reading, detail=False))
                st.session_state["room-pending"] = (
                    gen,
                    rules.image_bytes(pre.image),
                    stroke_json,
                    {k: rules.Answer(tuple(p.probs), uses[k].version.id) for k, p in preds.items()},
                )
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
        st.text_input(
            "Your name on the wall (optional)",
            key="room-nick",
            max_chars=rules.MAX_NICKNAME,
            on_change="ignore",
            placeholder="anonymous",
        )


def ask_for_code(message: str | None = None) -> None:
    """No usable code in the address: say why and let the visitor type one."""
    st.markdown("## Join a room")
    if message:
        st.error(message, icon=":material/error:")
    with st.form("join"):
        typed = st.text_input("Room code (on the wall)", max_chars=12)
        if st.form_submit_button("Join", type="primary"):
            try:
                st.query_params["room"] = rules.clean_code(typed)
            except rules.RoomError as exc:
                st.session_state["room-join-error"] = str(exc)
            st.rerun()
    if err := st.session_state.pop("room-join-error", None):
        st.error(err)


styles.page_style(False)
styles.put_style("phone.css")
code = st.query_params.get("room")
if not code:
    ask_for_code()
    st.stop()
try:
    room = store().get_room(code)
    if room.state != "closed" and st.session_state.get("room-joined") != room.code:
        store().join(room.code, participant())
        st.session_state["room-joined"] = room.code
except rules.RoomError as exc:
    ask_for_code(str(exc))
    st.stop()
if room.state == "closed":
    st.markdown(f"## {html.escape(room.title)}")
    st.info(
        "This room is closed: thank you for taking part! Ask the presenter for the "
        "code of the next one.",
        icon=":material/door_front:",
    )
    ask_for_code()
    st.stop()
try:
    inuse.models_in_use()
except (checkpoint.CheckpointError, KeyError) as exc:
    st.error(f"The networks cannot be loaded on this server ({exc}): tell the presenter.")
    st.stop()
common.freeze_gc()
st.html(f'<div class="room-head">Room <code>{room.code}</code> · {html.escape(room.title)}</div>')
if room.state == "paused":
    st.warning(
        "The presenter has paused sending for a moment: draw, and send when it reopens.",
        icon=":material/pause_circle:",
    )
draw_and_send(room.code)
canvas.fixes()
