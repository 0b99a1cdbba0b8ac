"""The presenter's control and the browser store under AppTest: bad settings leave every
page working with one sentence, an unlock is handed to the browser, a lock takes it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnist_models import presenter as pr

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "app_pages"
PASSCODE = "ui-test-passcode"


@pytest.fixture()
def fresh_gate(app_home, monkeypatch):
    """set(passcode): a private home and a gate made afresh from that passcode."""
    from app_pages import presenter_ui

    def make(passcode: str | None) -> None:
        if passcode is None:
            monkeypatch.delenv(pr.PASSCODE_ENV, raising=False)
        else:
            monkeypatch.setenv(pr.PASSCODE_ENV, passcode)
        monkeypatch.delenv(pr.LOCAL_MODE_ENV, raising=False)
        presenter_ui.gate.clear()

    yield make
    presenter_ui.gate.clear()


def all_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "warning", "error", "info", "title", "header")
    return "\n".join(str(e.value) for k in kinds for e in getattr(at, k))


@pytest.mark.parametrize("page", ["retrain.py", "room_wall.py", "draw.py"])
def test_a_short_passcode_leaves_the_pages_working_and_says_why(fresh_gate, page, capfd):
    fresh_gate("abc")
    at = AppTest.from_file(str(PAGES / page), default_timeout=60).run()
    assert not at.exception
    sentence = (
        "Presenter rights are off: the presenter passcode (MNIST_PRESENTER_PASSCODE) has 3 "
        "characters and needs at least 6; fix it and restart the server."
    )
    assert sentence in [w.value for w in at.warning]
    assert sentence in capfd.readouterr().err  # and the terminal heard it, at this first run


def test_unlock_hands_the_token_to_the_browser_and_lock_takes_it_back(fresh_gate):
    from app_pages import browser_store, presenter_ui

    fresh_gate(PASSCODE)
    at = AppTest.from_file(str(PAGES / "room_wall.py"), default_timeout=60).run()
    at.text_input(key="wall-presenter-code").input(PASSCODE)
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert not at.exception
    token = at.session_state[presenter_ui.TOKEN_KEY]
    gate = presenter_ui.gate()
    value, max_age, _ = at.session_state[browser_store.PENDING_KEY][gate.cookie_name]
    assert value == token.value and 12 * 3600 - 5 <= max_age <= 12 * 3600
    assert at.session_state["wall-presenter-code"] == ""  # the passcode is not kept
    next(b for b in at.button if b.label == "Lock").click().run()
    value, max_age, _ = at.session_state[browser_store.PENDING_KEY][gate.cookie_name]
    assert value is None and max_age == 0
    assert not gate.is_valid(token)
    caption = "The presenter opens, pauses and closes rooms and hides drawings, after unlocking."
    assert caption in all_text(at)
    assert [e.label for e in at.expander] == []  # no room controls


def store_script() -> None:
    import streamlit as st

    from app_pages import browser_store as bs

    for op in st.session_state.get("ops", []):
        try:
            if op[0] == "set":
                bs.set(op[1], op[2], op[3])
            else:
                bs.delete(op[1])
        except ValueError as exc:
            st.error(str(exc))
    st.session_state["ops"] = []
    st.session_state["seen"] = {n: bs.get(n) for n in ("a", "b")}
    bs.flush()


def test_the_browser_store_queues_changes_and_answers_from_them() -> None:
    from app_pages import browser_store as bs

    at = AppTest.from_function(store_script).run()
    assert at.session_state["seen"] == {"a": None, "b": None}
    at.session_state["ops"] = [("delete", "a"), ("set", "b", "x y;é", 60), ("set", "a", "1", -5)]
    at.run()
    assert at.session_state["seen"] == {"a": "1", "b": "x y;é"}
    pending = at.session_state[bs.PENDING_KEY]
    assert pending["a"][:2] == ("1", 0) and pending["b"][:2] == ("x y;é", 60)
    at.session_state["ops"] = [
        ("delete", "b"),
        ("set", "bad name", "v", 1),
        ("set", "a", "x" * 4000, 1),
    ]
    at.run()
    assert at.session_state["seen"] == {"a": "1", "b": None}
    assert [e.value for e in at.error] == [
        "a browser value's name is 1 to 64 letters, digits, '-' or '_'",
        f"a browser value is text of at most {bs.MAX_VALUE} bytes",
    ]
    assert not at.exception
