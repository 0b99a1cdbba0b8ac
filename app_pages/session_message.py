"""Streamlit's start-of-run message, built from its config once instead of at every run.

At the start of every script run, a fragment's too, Streamlit sends the browser a
`new_session` message with the app's config and its six theme sections. It builds them
anew each time: each theme section is a scan of all ~370 config options, and each option
a call. With a room of phones that was a quarter of the server's held-GIL time in a
profile and, measured in turns, about 8% of its CPU per drawing (docs/rooms.md), for a
message that only changes when an option does.

`install()` wraps the two functions of `streamlit.runtime.app_session` that build those
parts so that each part is built once and then merged into the message as a copy, and
built again whenever an option it reads may have changed: Streamlit gives an option a
new value function each time it is set (a flag, `st.set_option`) and new options when
it parses the config file again, so the same functions mean the same values. The result
is the same message, field for field (`tests/test_session_message.py` compares it with
Streamlit's own on the project's config and on changed options). The two functions are
Streamlit's own, not its public API: requirements.txt pins Streamlit's version, and if
an upgrade renames or reshapes them, `install()` leaves Streamlit as it is (logged) and
that test fails, so the loss is seen rather than silent.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading

log = logging.getLogger(__name__)

# Streamlit's builders: (name, its parameters). Wrapped only when these match exactly.
BUILDERS = {
    "_populate_config_msg": ("msg",),
    "_populate_theme_msg": ("msg", "section"),
}
# The sections whose options _populate_config_msg reads (Streamlit 1.67).
CONFIG_SECTIONS = frozenset({"browser", "global", "server", "ui", "client"})
_lock = threading.Lock()
_installed: dict[str, object] = {}  # name -> Streamlit's own function


def _cached(original, name: str):
    from streamlit import config

    theme = name == "_populate_theme_msg"
    built: dict = {}  # section (None: the config) -> (options, those it reads, their values, part)

    @functools.wraps(original)
    def populate(msg, *args):
        section = (args[0] if args else "theme") if theme else None
        options = config.get_config_options()
        hit = built.get(section)
        # Streamlit gives an option a new value function whenever it is set (a flag,
        # st.set_option, a reparse makes new options): the same functions, the same values.
        if hit is None or hit[0] is not options or _values(hit[1]) != hit[2]:
            read = [
                o
                for o in options.values()
                if (o.section == section if theme else o.section in CONFIG_SECTIONS)
            ]
            part = type(msg)()
            original(part, *args)
            # None when empty: merging an empty part would mark it present in the message.
            hit = built[section] = (
                options,
                read,
                _values(read),
                part if part.ListFields() else None,
            )
        if hit[3] is not None:
            msg.MergeFrom(hit[3])

    return populate


def _values(options: list) -> tuple:
    return tuple(o._get_val_func for o in options)


def install() -> bool:
    """Wrap Streamlit's builders (once per process); False if they are not as expected."""
    from streamlit.runtime import app_session

    with _lock:
        if _installed:
            return True
        found = {name: getattr(app_session, name, None) for name in BUILDERS}
        from streamlit import config

        options = config.get_config_options()
        for name, params in BUILDERS.items():
            fn = found[name]
            if (
                fn is None
                or tuple(inspect.signature(fn).parameters) != params
                or not all(hasattr(o, "_get_val_func") for o in options.values())
            ):
                log.warning(
                    "Streamlit's %s is not as expected: its start-of-run message is "
                    "built at every run (slower, same result)",
                    name,
                )
                return False
        for name, fn in found.items():
            setattr(app_session, name, _cached(fn, name))
            _installed[name] = fn
        return True


def uninstall() -> None:
    """Put Streamlit's own builders back (tests)."""
    from streamlit.runtime import app_session

    with _lock:
        for name, fn in _installed.items():
            setattr(app_session, name, fn)
        _installed.clear()
