"""Keep a small named value in this browser: get, set and delete it from the pages.

A value lives in a cookie of this site (SameSite=Strict, never in the page or its URL).
The server reads it from the cookies the browser sends as the page connects
(st.context.cookies), so it is there from the first run of a page: after a reload, a new
URL, or a restart of the server. Writing needs the page's own script: set() and delete()
queue the change, and flush(), once in a run, hands the queue to a small component
(assets/browser_store.js) that writes it and says when it has; until then the queue stays
and is handed over again. Until the page connects again, get() answers from what this
session wrote, not from the cookies it connected with.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from pathlib import Path

import streamlit as st
from streamlit.errors import DuplicateWidgetID

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_VALUE = 3000  # bytes once encoded: a browser keeps about 4 kB per cookie
MAX_AGE_S = 400 * 24 * 3600  # browsers cap a cookie's life at 400 days
PENDING_KEY = "_browser_store_pending"  # name -> (value or None to delete, max age, batch)
WRITTEN_KEY = "_browser_store_written"  # name -> value (None: deleted) the browser confirmed
BATCH_KEY = "_browser_store_batch"
JS = (Path(__file__).resolve().parent.parent / "assets" / "browser_store.js").read_text()
_component = st.components.v2.component("mnist_browser_store", js=JS)


def get(name: str) -> str | None:
    """The value kept under `name` in this browser, or None."""
    pending = st.session_state.get(PENDING_KEY, {})
    if name in pending:
        return pending[name][0]
    written = st.session_state.get(WRITTEN_KEY, {})
    if name in written:
        return written[name]
    raw = st.context.cookies.get(name)
    return urllib.parse.unquote(raw) if isinstance(raw, str) else None


def set(name: str, value: str, max_age_s: float) -> None:
    """Keep `value` under `name` for `max_age_s` seconds (written at the next flush())."""
    if not isinstance(value, str) or len(urllib.parse.quote(value)) > MAX_VALUE:
        raise ValueError(f"a browser value is text of at most {MAX_VALUE} bytes")
    _queue(name, value, int(min(max(0, max_age_s), MAX_AGE_S)))


def delete(name: str) -> None:
    """Remove the value kept under `name` (at the next flush()); nothing if there is none."""
    if get(name) is not None:
        _queue(name, None, 0)


def flush(key: str = "browser-store") -> None:
    """Hand the queued changes to the browser; call it once in a run, anywhere on the page
    (the component goes to the page's event area: no room taken, not inside a popover)."""
    pending = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    ops = [{"name": n, "value": v, "max_age": age} for n, (v, age, _) in pending.items()]
    batch = max(b for _, _, b in pending.values())
    try:
        with st._event:  # Streamlit's container for toasts: outside the layout
            _component(
                key=key,
                data={"ops": ops, "batch": batch},
                on_done_change=functools.partial(_written, key),
                width="content",
                height="content",
            )
    except DuplicateWidgetID:
        pass  # already handed over in this run


def _queue(name: str, value: str | None, max_age: int) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError("a browser value's name is 1 to 64 letters, digits, '-' or '_'")
    batch = st.session_state.get(BATCH_KEY, 0) + 1
    st.session_state[BATCH_KEY] = batch
    st.session_state.setdefault(PENDING_KEY, {})[name] = (value, max_age, batch)


def _written(key: str) -> None:
    """The browser wrote every change up to the batch it names: they are no longer queued."""
    done = (st.session_state.get(key) or {}).get("done")
    if not isinstance(done, int):
        return
    pending = st.session_state.get(PENDING_KEY, {})
    written = st.session_state.setdefault(WRITTEN_KEY, {})
    for name, (value, _, batch) in list(pending.items()):
        if batch <= done:
            written[name] = value
            del pending[name]
