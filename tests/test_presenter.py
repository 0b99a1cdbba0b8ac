"""Presenter rights: the passcode, its sources, wrong-try limits and tokens."""

from __future__ import annotations

import pytest

from mnist_models import addresses
from mnist_models import presenter as pr


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_right_passcode_gives_a_valid_token_and_lock_revokes_it() -> None:
    gate = pr.Gate("correct horse", "environment")
    token = gate.unlock("correct horse", client="a", name="  Ada   L. ")
    assert gate.is_valid(token)
    assert token.name == "Ada L."
    assert gate.require(token) is token
    gate.lock(token)
    assert not gate.is_valid(token)
    with pytest.raises(pr.NotPresenter, match="Only the presenter"):
        gate.require(token, "cancel a run")


def test_tokens_from_another_gate_or_forged_ones_are_refused() -> None:
    a, b = pr.Gate("passcode-a", "secrets"), pr.Gate("passcode-a", "secrets")
    token = a.unlock("passcode-a")
    assert not b.is_valid(token)
    assert not a.is_valid(pr.Token(token.value + "x", token.name))
    assert not a.is_valid(pr.Token(token.value, "someone else"))
    for junk in (None, "", token.value, {"value": token.value}, True):
        assert not a.is_valid(junk)


def test_wrong_passcodes_are_limited_per_client_then_unlock_again() -> None:
    clock = Clock()
    gate = pr.Gate("s3cret-code", "environment", max_failures=3, lockout_s=60, clock=clock)
    with pytest.raises(pr.WrongPasscode, match="2 tries left"):
        gate.unlock("nope", client="visitor")
    with pytest.raises(pr.WrongPasscode, match="1 try left"):
        gate.unlock("nope", client="visitor")
    with pytest.raises(pr.TooManyTries, match="60 s"):
        gate.unlock("nope", client="visitor")
    # Locked out: even the right passcode waits, from that client only.
    with pytest.raises(pr.TooManyTries):
        gate.unlock("s3cret-code", client="visitor")
    assert gate.is_valid(gate.unlock("s3cret-code", client="presenter"))
    clock.t += 61
    assert gate.is_valid(gate.unlock("s3cret-code", client="visitor"))


def test_many_clients_guessing_hit_the_global_limit() -> None:
    clock = Clock()
    gate = pr.Gate("s3cret-code", "environment", global_failures_per_minute=5, clock=clock)
    for i in range(5):
        with pytest.raises(pr.WrongPasscode):
            gate.unlock("guess", client=f"bot{i}")
    with pytest.raises(pr.TooManyTries):
        gate.unlock("guess", client="bot99")
    clock.t += 61
    assert gate.is_valid(gate.unlock("s3cret-code", client="bot99"))


def test_passcode_sources_in_order_and_a_generated_one_is_announced() -> None:
    said: list[str] = []
    g = pr.Gate.from_settings(
        "from-secrets", "127.0.0.1", env={pr.PASSCODE_ENV: "from-env1"}, announce=said.append
    )
    assert g.source == "secrets" and said == []
    g = pr.Gate.from_settings(
        None, "127.0.0.1", env={pr.PASSCODE_ENV: "from-env1"}, announce=said.append
    )
    assert g.source == "environment" and said == []
    g = pr.Gate.from_settings(None, "127.0.0.1", env={}, announce=said.append)
    assert g.source == "generated"
    code = said[0].split("Presenter passcode: ")[1].split()[0]
    assert g.is_valid(g.unlock(code))
    assert len(code.replace("-", "")) == 8


def test_short_passcodes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 6"):
        pr.Gate("12345", "environment")


@pytest.mark.parametrize(
    "address, local",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.4", False),
        ("myhost", False),
    ],
)
def test_local_addresses(address, local) -> None:
    assert addresses.is_local_address(address) is local


def test_local_mode_only_when_listening_on_localhost() -> None:
    said: list[str] = []
    env = {pr.LOCAL_MODE_ENV: "1", pr.PASSCODE_ENV: "whatever1"}
    local = pr.Gate.from_settings(None, "127.0.0.1", env=env, announce=said.append)
    assert local.local_mode and local.is_valid(local.local_token())
    network = pr.Gate.from_settings(None, "0.0.0.0", env=env, announce=said.append)
    assert not network.local_mode
    assert "passcode is required" in said[-1]
    with pytest.raises(pr.NotPresenter):
        network.local_token()


def test_very_long_attempts_are_cut_not_hashed_whole() -> None:
    gate = pr.Gate("s3cret-code", "environment")
    with pytest.raises(pr.WrongPasscode):
        gate.unlock("x" * 10_000_000)
