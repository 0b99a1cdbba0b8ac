"""Draw a digit (or upload one) and see what each network reads.

The canvas is on the screen before anything imports torch, which takes a second or more
at a server's first page view (bench/bench_first_page.py): this script and what it
imports at the top are torch-free, and the reading half of the page
(app_pages/drawing.py) is imported once the canvas has been sent.
"""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import canvas, presentation, startup, styles
from mnist_models.reading import canvas as canvas_data  # torch-free: json and numpy only

SOURCES = ["Draw", "Upload a photo"]


def reader():
    """app_pages.drawing (answers, uploads, the models menu), imported when first needed."""
    # Here, not at the top: it imports torch, and the canvas need not wait for that.
    from app_pages import drawing

    return drawing


def source_row() -> str:
    """Draw or upload, and the pen's width; the choice."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        source = (
            st.segmented_control(
                "Input", SOURCES, default="Draw", key="source", label_visibility="collapsed"
            )
            or "Draw"
        )
        if source == "Draw":
            with st.popover("Pen", icon=":material/edit:"):
                st.slider(
                    "Brush width",
                    4,
                    60,
                    28,
                    step=2,
                    key="brush",
                    help="Any width works: strokes are re-drawn MNIST-thick before reading.",
                )
    return source


def canvas_json(present: bool) -> tuple[object, str | None]:
    """The canvas under its toolbar; (the drawing on it as Fabric.js JSON, or why there is
    none to read)."""
    st.html(canvas.head_html("One digit, anywhere, any size." if not present else ""))
    problem = None
    try:
        json_data = st_canvas(
            stroke_width=st.session_state.get("brush", 28),
            stroke_color="#000000",
            background_color="#ffffff",
            height=canvas.SIZE,
            width=canvas.SIZE,
            drawing_mode="freedraw",
            key="canvas",
        ).json_data
    except RecursionError:  # Streamlit parses the canvas's state itself, with no depth bound
        json_data, problem = None, f"This drawing cannot be read: {canvas_data.MALFORMED}"
    canvas.fixes()  # right after it: its toolbar and scaling do not wait for torch
    return json_data, problem


@st.fragment
def drawing_area(present: bool) -> None:
    """Canvas and answers; a stroke reruns only this part of the page."""
    left, right = st.columns([1, 1] if present else [5, 7], gap="large")
    explored = st.session_state.get("explore_digit")  # a test digit from the Explorer
    with left:
        source = "Draw" if present or explored is not None else source_row()
        drawn, problem = None, None
        if explored is None and source == "Draw":
            drawn, problem = canvas_json(present)
    drawing = reader()
    label, pre = None, None
    with left:
        if explored is not None:
            pre, label = drawing.explored_digit(explored)
        elif source == "Draw":
            if problem is None:
                pre, problem = drawing.read_strokes(drawn)
        else:
            pre, problem = drawing.upload_input()
    with right:
        drawing.answers_column(pre, label, problem, present, uploaded=source != "Draw")


present = presentation.presenting()
styles.page_style(present)
# Filled once the canvas is on the screen: the title names the networks (torch). At a
# server's first page view that is a second or more later, so the title's place is held
# from the start (the same row, without the names), or the canvas would move down under a
# pen already drawing.
title = None if present else st.container(key="draw-title").empty()  # not on a phone
if title is not None and not startup.started():
    with title.container():
        st.columns([4, 1], vertical_alignment="center")[0].markdown("## What digit is this?")
drawing_area(present)
startup.ready()
if title is not None:
    with title.container():
        reader().title_row()
presentation.present_switch(present)
