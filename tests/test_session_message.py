"""Streamlit's start-of-run message built once per config (app_pages/session_message.py):
the same message as Streamlit's own, field for field, and rebuilt when an option changes."""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime import app_session

from app_pages import session_message


def build(config_fn, theme_fn) -> bytes:
    """The config and theme parts of a new_session message, as Streamlit builds them."""
    msg = ForwardMsg()
    config_fn(msg.new_session.config)
    theme = msg.new_session.custom_theme
    theme_fn(theme)
    theme_fn(theme.light, "theme.light")
    theme_fn(theme.dark, "theme.dark")
    theme_fn(theme.sidebar, "theme.sidebar")
    theme_fn(theme.light.sidebar, "theme.light.sidebar")
    theme_fn(theme.dark.sidebar, "theme.dark.sidebar")
    return msg.SerializeToString(deterministic=True)


@pytest.fixture
def installed():
    session_message.uninstall()
    own = (app_session._populate_config_msg, app_session._populate_theme_msg)
    assert session_message.install(), "Streamlit's builders are not as this module expects"
    yield own
    session_message.uninstall()
    assert (app_session._populate_config_msg, app_session._populate_theme_msg) == own


def cached() -> bytes:
    return build(app_session._populate_config_msg, app_session._populate_theme_msg)


def test_streamlit_builders_are_wrapped_and_give_the_same_message(installed):
    own = build(*installed)
    assert app_session._populate_theme_msg is not installed[1]
    assert cached() == own
    assert cached() == own  # from the cache this time
    msg = ForwardMsg()
    msg.ParseFromString(own)
    # The project's config has a light primary colour: the comparison sees real content.
    assert msg.new_session.custom_theme.light.primary_color == "#b02a3a"
    assert msg.new_session.config.toolbar_mode == msg.new_session.config.VIEWER


@pytest.mark.parametrize(
    "key, value",
    [
        ("theme.light.primaryColor", "#123456"),
        ("theme.dark.backgroundColor", "#101010"),
        ("theme.base", "dark"),
        ("client.toolbarMode", "minimal"),
        ("browser.gatherUsageStats", True),
        ("ui.hideTopBar", True),
        ("client.showSidebarNavigation", False),
        ("global.maxCachedMessageAge", 5),
    ],
)
def test_a_changed_option_is_followed(installed, key, value):
    before = cached()
    old, where = config.get_option(key), config.get_where_defined(key)
    config.set_option(key, value)
    try:
        changed = cached()
        assert changed == build(*installed)
        assert changed != before
    finally:
        config.set_option(key, old, where)
    assert cached() == before == build(*installed)


def test_a_reparsed_config_is_followed(installed):
    before = cached()
    config.get_config_options(force_reparse=True)
    assert cached() == before == build(*installed)


def test_install_is_once_and_refuses_builders_it_does_not_know(installed, monkeypatch, caplog):
    assert session_message.install()  # already: nothing wrapped twice
    assert app_session._populate_theme_msg.__wrapped__ is installed[1]
    session_message.uninstall()

    def reshaped(msg, section, extra):  # a Streamlit whose builder takes other arguments
        return None

    monkeypatch.setattr(app_session, "_populate_theme_msg", reshaped)
    assert not session_message.install()
    assert app_session._populate_theme_msg is reshaped
    assert app_session._populate_config_msg is installed[0]
    assert "not as expected" in caplog.text
