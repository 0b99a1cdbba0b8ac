"""The pages' CSS and JavaScript: files under assets/, read once per server process."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@functools.cache  # a page reruns on every stroke: read each file once per process
def asset(name: str) -> str:
    """The text of one file under assets/."""
    return (ASSETS / name).read_text(encoding="utf-8")


def style_html(*names: str) -> str:
    """CSS files under assets/ as <style> elements."""
    return "".join(f"<style>\n{asset(n)}</style>\n" for n in names)


def script_html(name: str, **values: str) -> str:
    """A JavaScript file under assets/ as a <script> element, each ``__KEY__`` placeholder
    in it replaced by its value as a JavaScript string."""
    js = asset(name)
    for key, value in values.items():
        placeholder = f"__{key}__"
        if placeholder not in js:
            raise ValueError(f"{name} has no {placeholder}")
        js = js.replace(placeholder, json.dumps(value))
    return f"<script>\n{js}</script>\n"


def put_style(*names: str) -> None:
    """Put CSS files on the page (an element of styles only takes no room on it)."""
    st.html(style_html(*names))


def app_style() -> None:
    """The styles every page shares (captions legible, the page list labelled on phones)."""
    st.html(style_html("app.css") + script_html("theme.js"), unsafe_allow_javascript=True)


def page_style(present: bool) -> None:
    """The answers' styles and the phone layout (and the presentation ones when presenting)."""
    put_style("answers.css", *(["present.css"] if present else []))
