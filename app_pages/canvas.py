"""What the pages add to the drawing canvas: the Clear band above it and the fixes script."""

from __future__ import annotations

import html

import streamlit as st

from app_pages import styles

# The canvas's own pixels (strokes come back in these); on screen it is scaled to the
# window by assets/canvas.js, from a phone's width to a projector's.
SIZE = 448


def head_html(caption: str = "") -> str:
    """The band above the canvas: a Clear button on the left (the toolbar sits on the right).

    Clear empties the canvas in the browser (it presses the toolbar's reset), so a
    stroke begun right after it is never lost to a re-created canvas.
    """
    cap = f'<span class="canvas-caption">{html.escape(caption)}</span>' if caption else ""
    return (
        f'<div class="canvas-head"><button type="button" class="digit-clear" '
        f'data-digit-clear="1" aria-label="Clear the canvas">Clear</button>{cap}</div>'
    )


def fixes() -> None:
    """Add the canvas fixes (toolbar, scaling, Clear, accessible name); call once, at the end."""
    st.html(
        styles.style_html("canvas.css")
        + styles.script_html("canvas.js", CANVAS_SHADOW_CSS=styles.asset("canvas-shadow.css")),
        unsafe_allow_javascript=True,
    )
