"""The presenter's unlock control and the check that pages make before a shared action."""

from __future__ import annotations

import streamlit as st

from mnist_models.presenter import Gate, NotPresenter, Token, TooManyTries, WrongPasscode

TOKEN_KEY = "_presenter_token"  # no widget has this key, so a browser cannot set it


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except Exception:  # no secrets file, or an unreadable one: treat as unset
        return None


@st.cache_resource(show_spinner=False)
def gate() -> Gate:
    """The server's one gate (created, and a generated passcode printed, on first use)."""
    return Gate.from_settings(
        secret=_secret("presenter_passcode"),
        listen_address=st.get_option("server.address"),
        local_mode_setting=bool(_secret("local_mode")),
    )


def token() -> Token | None:
    """This session's presenter token, if it holds a valid one."""
    g = gate()
    held = st.session_state.get(TOKEN_KEY)
    if g.is_valid(held):
        return held
    if g.local_mode:
        st.session_state[TOKEN_KEY] = g.local_token()
        return st.session_state[TOKEN_KEY]
    st.session_state.pop(TOKEN_KEY, None)
    return None


def is_presenter() -> bool:
    """Whether this browser session may change what everyone shares."""
    return token() is not None


def require(what: str = "do that") -> Token:
    """This session's token; NotPresenter (with a message for people) otherwise."""
    return gate().require(token(), what)


def _unlock(key: str) -> None:
    attempt = st.session_state.get(f"{key}-code", "")
    name = st.session_state.get(f"{key}-name", "")
    st.session_state[f"{key}-code"] = ""  # never keep the passcode in the session
    try:
        st.session_state[TOKEN_KEY] = gate().unlock(
            attempt, client=st.context.ip_address or "this machine", name=name
        )
    except (WrongPasscode, TooManyTries) as exc:
        st.session_state[f"{key}-error"] = str(exc)


def _lock() -> None:
    gate().lock(st.session_state.pop(TOKEN_KEY, None))


def control(key: str = "presenter") -> None:
    """A small popover: unlock with the passcode, or (once unlocked) lock again."""
    t = token()
    if t is not None:
        with st.popover(f"Presenter: {t.name}", icon=":material/lock_open:"):
            if gate().local_mode:
                st.caption("Local single-user mode: no passcode needed on this machine.")
            else:
                st.caption("This browser can change what everyone shares.")
                st.button("Lock", key=f"{key}-lock", on_click=_lock, icon=":material/lock:")
        return
    with st.popover("Presenter", icon=":material/lock:"):
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


__all__ = ["NotPresenter", "control", "gate", "is_presenter", "require", "token"]
