"""What the pages add to the drawing canvas: the toolbar above it and the fixes script."""

from __future__ import annotations

import html

import streamlit as st

from app_pages import styles

# The canvas's own pixels (strokes come back in these); on screen it is scaled to the
# window by assets/canvas.js, from a phone's width to a projector's.
SIZE = 448

# Our toolbar: (what canvas.js does, label, accessible name, starts disabled). The
# component's own toolbar is hidden (assets/canvas-shadow.css): its pencil turned drawing
# into selecting, its upload arrow meant nothing here and its bin was a second Clear.
TOOLS = (
    ("undo", "↶ Undo", "Undo the last stroke", True),
    ("redo", "↷ Redo", "Redo", True),
    ("clear", "Clear", "Clear the canvas", False),
)


def head_html(caption: str = "") -> str:
    """The band above the canvas: Undo, Redo and Clear, then a caption.

    The buttons press the component's own (hidden) undo, redo and reset in the browser,
    so a stroke begun right after one of them is never lost to a re-created canvas.
    """
    buttons = "".join(
        f'<button type="button" class="digit-tool digit-{tool}" data-digit-tool="{tool}" '
        f'aria-label="{html.escape(name)}" title="{html.escape(name)}"'
        f"{' disabled' if off else ''}>{html.escape(label)}</button>"
        for tool, label, name, off in TOOLS
    )
    cap = f'<span class="canvas-caption">{html.escape(caption)}</span>' if caption else ""
    return (
        f'<div class="canvas-head" role="toolbar" aria-label="Drawing tools">{buttons}{cap}</div>'
    )


def fixes() -> None:
    """Add the canvas fixes (toolbar, scaling, accessible name); call once, at the end."""
    st.html(
        styles.style_html("canvas.css")
        + styles.script_html("canvas.js", CANVAS_SHADOW_CSS=styles.asset("canvas-shadow.css")),
        unsafe_allow_javascript=True,
    )
