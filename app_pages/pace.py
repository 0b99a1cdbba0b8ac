"""Heavy pages (Experiments, the Explorer): a few quick runs, then one a second per client.

What those pages compute is cached per model version and shared by every session, so a
rerun only sends it again; this bounds how often one client can ask for that. Each
client (its address, as the presenter's per-client limits see it: forwarded headers
count only from a trusted proxy) gets a few runs at once (1 + BURST), then one every
RUN_INTERVAL seconds, whatever number of sessions or sockets it opens: a run waits for
its client's next turn (a wait holds only that session's script thread, no CPU), and a
client whose turn is more than MAX_WAIT seconds away is told so in one sentence instead.
"""

from __future__ import annotations

import threading
import time
import uuid

import streamlit as st

from app_pages import presenter_ui

RUN_INTERVAL = 1.0  # seconds between a client's runs of heavy pages, kept up
BURST = 2  # runs a client may have at once beyond that: a few quick filter changes
MAX_WAIT = 5.0  # seconds a run may wait for its turn; beyond, the page says so
BUSY = "This page is being opened very often from your address; try again in a few seconds."

_lock = threading.Lock()
_due: dict[str, float] = {}  # client -> its theoretical next run (time.monotonic)


def _client() -> str:
    """This session's client; a session without a connection (a test) is its own client."""
    if not st.context.headers:
        return st.session_state.setdefault("_pace-session", f"session-{uuid.uuid4().hex}")
    g = presenter_ui.gate()
    if g is None:
        ip = st.context.ip_address
        return ip if isinstance(ip, str) else "127.0.0.1"
    return presenter_ui.client(g)


def pace(client: str | None = None, interval: float = RUN_INTERVAL, burst: int = BURST) -> None:
    """Wait for this client's next turn to run a heavy page (the first 1 + burst at once,
    then one every interval); over MAX_WAIT away, say so and stop the run."""
    who = client if client is not None else _client()
    now = time.monotonic()
    with _lock:
        if len(_due) > 10_000:  # forget clients that are up to date
            for k in [k for k, t in _due.items() if t < now]:
                del _due[k]
        due = max(now, _due.get(who, now))
        turn = max(now, due - burst * interval)
        if turn - now > MAX_WAIT:
            turn = None
        else:
            _due[who] = due + interval
    if turn is None:
        st.info(BUSY)
        st.stop()
    if turn > now:
        time.sleep(turn - now)
