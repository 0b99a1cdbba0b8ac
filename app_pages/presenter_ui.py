"""The presenter's unlock control and the check that pages make before a shared action.

An unlock is a signed token (mnist_models.presenter). The session holds it, and the
presenter's browser keeps a copy (browser_store: a cookie, never the page or its URL), so a
reload, another room's URL or a restarted server finds the presenter still unlocked, for
12 hours or until they lock; locking removes it there and refuses it everywhere.
"""

from __future__ import annotations

import dataclasses
import os

import streamlit as st

from app_pages import browser_store, common
from mnist_models import addresses, files, presenter
from mnist_models.presenter import Gate, NotPresenter, Token, TooManyTries, WrongPasscode

TOKEN_KEY = "_presenter_token"  # no widget has this key, so a browser cannot set it
# uvicorn, under Streamlit, puts what X-Forwarded-For claims in place of a loopback peer
# unless this is set to "" (the launcher does): only then is the peer Streamlit gives real.
UVICORN_TRUST_ENV = "FORWARDED_ALLOW_IPS"
_problem: str | None = None  # why there is no gate, set by gate()


@st.cache_resource(show_spinner=False)
def gate() -> Gate | None:
    """The server's one gate, or None when the settings have a problem (see problem()).
    Made on first use; what the terminal should hear is printed then, unless the launcher
    already printed it as the server started."""
    global _problem
    result = presenter.setup(
        secret_files=st.get_option("secrets.files") or [],
        listen_address=st.get_option("server.address"),
        env=os.environ,
        home=files.home(),
    )
    if result.gate is not None and result.gate.proxies and os.environ.get(UVICORN_TRUST_ENV) != "":
        note = (
            f"{addresses.TRUSTED_PROXIES_ENV} needs the launcher (scripts/serve.py): under "
            "`streamlit run`, uvicorn hides who sent a forwarded request, so all of them "
            "share one limit on wrong passcodes."
        )
        result = dataclasses.replace(result, messages=(*result.messages, note))
    presenter.announce(result, os.environ)
    _problem = result.problem
    return result.gate


def problem() -> str | None:
    """Why presenter rights are off on this server, in one sentence; None when they are on."""
    gate()
    return _problem


def _headers() -> dict[str, str]:
    """The headers of this session's connection, names in lower case (repeats joined)."""
    h = st.context.headers
    return {k.lower(): ", ".join(h.get_all(k)) for k in h.keys()}


def client(g: Gate) -> str:
    """Who this session is, for per-client limits (addresses.client_address)."""
    headers = _headers()
    ip = st.context.ip_address
    # Streamlit gives None for a loopback peer; a test session has no connection at all.
    peer: str | None = ip if isinstance(ip, str) else "127.0.0.1"
    if os.environ.get(UVICORN_TRUST_ENV) != "" and "x-forwarded-for" in headers:
        peer = None  # perhaps uvicorn's rewrite of a loopback peer: the real one is unknown
    return addresses.limit_key(addresses.client_address(peer, headers, g.proxies))


def token() -> Token | None:
    """This session's presenter token: held, kept in this browser, or (local single-user
    mode, this machine's own browser) given; None for a visitor."""
    g = gate()
    if g is None:
        return None
    held = st.session_state.get(TOKEN_KEY)
    if g.is_valid(held):
        return held
    st.session_state.pop(TOKEN_KEY, None)
    headers = _headers()
    if g.local_mode and addresses.is_local_request(headers):
        st.session_state[TOKEN_KEY] = g.local_token(headers)
        return st.session_state[TOKEN_KEY]
    kept = browser_store.get(g.cookie_name)
    # Only a page of this server may use the browser's copy: another site's page that opens
    # a connection here (the browser would send the cookie along) is refused it.
    if kept is not None and addresses.is_same_origin(headers):
        found = g.read(kept)
        if found is not None:
            st.session_state[TOKEN_KEY] = found
            return found
        browser_store.delete(g.cookie_name)  # expired, locked, or from an older passcode
    return None


def is_presenter() -> bool:
    """Whether this browser session may change what everyone shares."""
    return token() is not None


def require(what: str = "do that") -> Token:
    """This session's token; NotPresenter (with a message for people) otherwise."""
    g = gate()
    if g is None:
        raise NotPresenter(what)
    return g.require(token(), what)


def _unlock(key: str) -> None:
    attempt = st.session_state.get(f"{key}-code", "")
    name = st.session_state.get(f"{key}-name", "")
    st.session_state[f"{key}-code"] = ""  # never keep the passcode in the session
    g = gate()
    if g is None:
        return
    try:
        t = g.unlock(attempt, client=client(g), name=name)
    except (WrongPasscode, TooManyTries) as exc:
        st.session_state[f"{key}-error"] = str(exc)
        return
    st.session_state[TOKEN_KEY] = t
    browser_store.set(g.cookie_name, t.value, g.seconds_left(t))


def _lock() -> None:
    g = gate()
    held = st.session_state.pop(TOKEN_KEY, None)
    if g is not None:
        g.lock(held)
        browser_store.delete(g.cookie_name)


def control(key: str = "presenter") -> None:
    """A small popover: unlock with the passcode, or (once unlocked) lock again; where
    presenter rights are off ("Presenter rights off"), the sentence that says why."""
    try:
        _control(key)
    finally:
        browser_store.flush(f"{key}-store")  # an unlock or a lock reaches the browser


def _control(key: str) -> None:
    if (why := problem()) is not None:
        with st.popover("Presenter rights off", icon=":material/warning:"):
            st.warning(common.without_paths(why))
        return
    g = gate()
    t = token()
    if t is not None:
        with st.popover(f"Presenter: {t.name}", icon=":material/lock_open:"):
            if g is not None and g.local_mode and addresses.is_local_request(_headers()):
                st.caption("Local single-user mode: no passcode needed on this machine.")
            else:
                st.caption(
                    "This browser can change what everyone shares until you lock it "
                    "(12 hours at most)."
                )
                st.button("Lock", key=f"{key}-lock", on_click=_lock, icon=":material/lock:")
        return
    with st.popover("Presenter", icon=":material/lock:"):
        if g is not None and g.local_mode:
            port = st.get_option("server.port")
            st.caption(
                "Local single-user mode covers this machine's own browser only, at "
                f"http://localhost:{port}."
            )
        st.caption(
            "The presenter unlocks training runs, the models in use and rooms. The "
            "passcode is printed in the terminal that started the app, unless one was "
            "set (see the README)."
        )
        with st.form(f"{key}-form", clear_on_submit=False, border=False):
            st.text_input("Passcode", type="password", key=f"{key}-code", max_chars=256)
            st.text_input(
                "Your name, shown to the room (optional)", key=f"{key}-name", max_chars=40
            )
            st.form_submit_button(
                "Unlock", on_click=_unlock, args=(key,), icon=":material/lock_open:"
            )
        if error := st.session_state.pop(f"{key}-error", None):
            st.error(error)


__all__ = [
    "NotPresenter",
    "client",
    "control",
    "gate",
    "is_presenter",
    "problem",
    "require",
    "token",
]
