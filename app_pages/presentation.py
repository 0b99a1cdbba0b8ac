"""Presentation mode (`?present=1`): only the canvas, the answers and the headline, large.

Torch-free, like app_pages/draw.py's top: the drawing page asks it before its canvas.
"""

from __future__ import annotations

import streamlit as st


def presenting() -> bool:
    """Presentation mode: `?present=1` in the address, or the page's switch."""
    return str(st.query_params.get("present", "")).lower() in ("1", "true", "yes", "on")


def present_switch(present: bool) -> None:
    """A button into presentation mode (`?present=1`), or a small one out of it."""
    if present:
        if st.button("Leave presentation", key="present-off", type="tertiary"):
            st.query_params.pop("present", None)
            st.rerun()
    elif st.button(
        "Presentation mode",
        key="present-on",
        icon=":material/slideshow:",
        help="Only the canvas, the answers and the verdict, large, for a "
        "projector. The address ?present=1 opens the page this way.",
    ):
        st.query_params["present"] = "1"
        st.rerun()
