"""Presenter rights: the passcode, its sources, wrong tries slowed per client, signed tokens
that outlast a restart, and what is kept under the app home."""

from __future__ import annotations

import os
import stat

import pytest

from mnist_models import addresses
from mnist_models import presenter as pr
from mnist_models.presenter import keep

LOCAL = {"Host": "localhost:8501", "Origin": "http://localhost:8501"}


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def made(tmp_path, env=None, listen="127.0.0.1", secrets_toml=None, home="home") -> pr.Setup:
    """setup() with a secrets file holding `secrets_toml` (none if None) and a home."""
    files = []
    if secrets_toml is not None:
        (tmp_path / "secrets.toml").write_text(secrets_toml)
        files = [tmp_path / "secrets.toml"]
    return pr.setup(files, listen, env or {}, None if home is None else tmp_path / home)


def test_right_passcode_gives_a_valid_token_and_lock_revokes_it() -> None:
    gate = pr.Gate("correct horse", "environment")
    token = gate.unlock("correct horse", client="a", name="  Ada   L. ")
    assert gate.is_valid(token)
    assert token.name == "Ada L."
    assert gate.require(token) is token
    gate.lock(token)
    assert not gate.is_valid(token)
    assert gate.read(token.value) is None
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
    # Changing any signed field (the expiry, the name) breaks the signature.
    version, expires, nonce, name, sig = token.value.split(".")
    later = ".".join((version, str(int(expires) + 10**6), nonce, name, sig))
    assert a.read(later) is None
    for junk in ("", "p1", "é" * 10, "x" * 10_000, token.value.replace("p1", "p2", 1)):
        assert a.read(junk) is None


def test_a_token_is_good_for_12_hours_and_on_another_gate_with_the_same_key() -> None:
    wall = Clock(1_000_000.0)
    secret = os.urandom(32)
    gate = pr.Gate("s3cret-code", "environment", secret=secret, wall_clock=wall)
    token = gate.unlock("s3cret-code", name="Ada")
    assert gate.seconds_left(token) == 12 * 3600
    # Another process on the same home (a restart): same secret, same passcode.
    again = pr.Gate("s3cret-code", "environment", secret=secret, wall_clock=wall)
    assert again.read(token.value) == token
    assert again.cookie_name == gate.cookie_name
    # A new passcode ends it; another home's secret never knew it.
    assert pr.Gate("new-passcode", "environment", secret=secret).read(token.value) is None
    other = pr.Gate("s3cret-code", "environment", secret=os.urandom(32))
    assert other.read(token.value) is None and other.cookie_name != gate.cookie_name
    wall.t += 12 * 3600 - 1
    assert again.is_valid(token)
    wall.t += 1
    assert not again.is_valid(token) and not gate.is_valid(token)


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


def test_each_wrong_try_after_the_free_ones_doubles_the_wait_up_to_a_cap() -> None:
    clock = Clock()
    gate = pr.Gate(
        "s3cret-code", "environment", max_failures=2, lockout_s=10, max_wait_s=35, clock=clock
    )
    waits = []
    gate_tries = 0
    while len(waits) < 4:
        gate_tries += 1
        try:
            gate.unlock("guess", client="bot")
        except pr.TooManyTries as exc:
            waits.append(exc.seconds)
            clock.t += exc.seconds  # wait it out, then guess again
        except pr.WrongPasscode:
            pass
    assert gate_tries == 5 and waits == [10, 20, 35, 35]
    # Once the wait is over, the right passcode still unlocks, and the count starts again.
    assert gate.is_valid(gate.unlock("s3cret-code", client="bot"))
    with pytest.raises(pr.WrongPasscode, match="1 try left"):
        gate.unlock("guess", client="bot")


def test_guessers_elsewhere_never_lock_out_the_presenter() -> None:
    """30 wrong tries from six clients: the right passcode from a seventh still unlocks."""
    clock = Clock()
    gate = pr.Gate("s3cret-code", "environment", clock=clock)
    for i in range(30):
        with pytest.raises((pr.WrongPasscode, pr.TooManyTries)):
            gate.unlock("guess", client=f"bot{i % 6}")
    assert gate.is_valid(gate.unlock("s3cret-code", client="presenter"))
    with pytest.raises(pr.TooManyTries):  # the guessers themselves wait
        gate.unlock("s3cret-code", client="bot0")


def test_passcode_sources_in_order_and_a_generated_one_is_announced(tmp_path) -> None:
    env = {pr.PASSCODE_ENV: "from-env1"}
    s = made(tmp_path, env, secrets_toml='presenter_passcode = "from-secrets"')
    assert s.gate.source == "secrets" and s.messages == () and s.problem is None
    assert s.gate.is_valid(s.gate.unlock("from-secrets"))
    s = made(tmp_path, env)
    assert s.gate.source == "environment" and s.messages == ()
    s = made(tmp_path)
    assert s.gate.source == "generated"
    code = s.messages[0].split("Presenter passcode: ")[1].split()[0]
    assert s.gate.is_valid(s.gate.unlock(code))
    assert len(code.replace("-", "")) == 8
    # Kept under the home: a restart (a new setup on the same home) keeps it.
    assert made(tmp_path).messages == s.messages
    assert str(tmp_path / "home" / keep.PASSCODE_FILE) in s.messages[0]


def test_bad_settings_give_one_sentence_and_no_gate(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least 6"):
        pr.Gate("12345", "environment")
    for s, words in (
        (made(tmp_path, {pr.PASSCODE_ENV: "abc"}), "MNIST_PRESENTER_PASSCODE) has 3 characters"),
        (made(tmp_path, secrets_toml="presenter_passcode = 'abc'"), "has 3 characters"),
        (made(tmp_path, secrets_toml="presenter_passcode = ["), "secrets.toml cannot be read"),
        (made(tmp_path, secrets_toml="presenter_passcode = [1]"), "must be text"),
        (made(tmp_path, {"MNIST_TRUSTED_PROXIES": "10.0.0.0/33"}), "not an IP address"),
        (made(tmp_path, {"MNIST_PROXY_HOPS": "many"}), "whole number"),
    ):
        assert s.gate is None
        assert s.problem.startswith("Presenter rights are off: ") and words in s.problem
        assert s.problem.endswith("restart the server.") and "\n" not in s.problem
        assert s.messages[-1] == s.problem


def test_local_mode_only_when_listening_on_localhost_without_a_proxy(tmp_path) -> None:
    env = {pr.LOCAL_MODE_ENV: "1", pr.PASSCODE_ENV: "whatever1"}
    local = made(tmp_path, env).gate
    assert local.local_mode and local.is_valid(local.local_token(LOCAL))
    network = made(tmp_path, env, listen="0.0.0.0")
    assert not network.gate.local_mode
    assert "passcode is required" in network.messages[-1]
    with pytest.raises(pr.NotPresenter):
        network.gate.local_token(LOCAL)
    proxied = made(tmp_path, {**env, "MNIST_TRUSTED_PROXIES": "127.0.0.1"})
    assert not proxied.gate.local_mode and "proxy" in proxied.messages[-1]
    assert made(tmp_path, secrets_toml="local_mode = true").gate.local_mode


def test_local_mode_is_for_this_machines_own_browser_only(tmp_path) -> None:
    gate = made(tmp_path, {pr.LOCAL_MODE_ENV: "1"}).gate
    rebound = {"Host": "rebind.example:8633", "Origin": "http://rebind.example:8633"}
    for headers in (
        rebound,
        {"Host": "localhost:8501", "Origin": "http://rebind.example:8633"},
        {**LOCAL, "X-Forwarded-For": "203.0.113.1"},
        {**LOCAL, "X-Real-IP": "203.0.113.1"},
        {**LOCAL, "Forwarded": "for=203.0.113.1"},
        {},
    ):
        with pytest.raises(pr.NotPresenter):
            gate.local_token(headers)
    assert gate.is_valid(gate.local_token({"Host": "[::1]:8501"}))


def test_no_passcode_is_printed_in_local_mode(tmp_path) -> None:
    s = made(tmp_path, {pr.LOCAL_MODE_ENV: "1"})
    assert s.gate.local_mode and s.messages == ()
    assert not (tmp_path / "home" / keep.PASSCODE_FILE).exists()


def test_the_launchers_announcement_is_not_repeated(tmp_path) -> None:
    s = made(tmp_path)
    said: list[str] = []
    pr.announce(s, {pr.ANNOUNCED_ENV: pr.fingerprint(s.messages)}, said.append)
    assert said == []
    pr.announce(s, {pr.ANNOUNCED_ENV: "something else"}, said.append)
    assert said == list(s.messages)


def test_the_server_secret_is_private_shared_and_checked(tmp_path) -> None:
    home = tmp_path / "home"
    one, two = keep.server_secret(home), keep.server_secret(home)
    assert one == two and len(one) == 32
    path = home / keep.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert keep.server_secret(home) == one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not hex\n")
    with pytest.raises(keep.KeepError, match="delete it and restart"):
        keep.server_secret(home)
    s = made(tmp_path)
    assert s.gate is None and "is damaged" in s.problem


def test_a_home_that_cannot_be_written_still_gives_a_gate(tmp_path) -> None:
    (tmp_path / "home").write_text("a file where the home should be\n")  # even root cannot
    s = made(tmp_path, {pr.PASSCODE_ENV: "whatever1"})
    assert s.gate is not None and "will not outlast this server" in s.messages[0]
    t = s.gate.unlock("whatever1")
    s.gate.lock(t)
    assert not s.gate.is_valid(t)
    generated = made(tmp_path)  # not kept: a new one at each start, and it says so
    assert generated.gate is not None and "new at each start" in generated.messages[-1]


def test_a_lock_on_one_server_is_a_lock_on_every_server_of_the_home(tmp_path) -> None:
    env = {pr.PASSCODE_ENV: "whatever1"}
    a, b = made(tmp_path, env).gate, made(tmp_path, env).gate
    token = a.unlock("whatever1")
    assert b.read(token.value) == token
    a.lock(token)
    assert b.read(token.value) is None
    revoked = tmp_path / "home" / keep.REVOKED_FILE
    assert stat.S_IMODE(revoked.stat().st_mode) == 0o600


def test_expired_locks_are_dropped_when_the_file_grows(tmp_path, monkeypatch) -> None:
    wall = Clock(1_000_000.0)
    path = tmp_path / keep.REVOKED_FILE
    monkeypatch.setattr(keep, "MAX_REVOKED_BYTES", 200)
    revoked = keep.Revoked(path, wall)
    for i in range(20):
        revoked.add(f"old{i}", wall.t + 10)
    wall.t += 20
    revoked.add("new", wall.t + 10)
    assert path.read_text() == f"new {int(wall.t + 10)}\n"
    assert "new" in revoked and "old1" not in revoked
    assert "new" in keep.Revoked(path, wall)


def test_very_long_attempts_are_cut_not_hashed_whole() -> None:
    gate = pr.Gate("s3cret-code", "environment")
    with pytest.raises(pr.WrongPasscode):
        gate.unlock("x" * 10_000_000)


def test_a_client_is_known_by_its_real_address_not_by_what_it_claims() -> None:
    """From a locked 127.0.0.1, a made-up X-Forwarded-For gets no fresh tries."""
    gate = pr.Gate("s3cret-code", "environment", max_failures=2)

    def key(peer, headers):
        return addresses.limit_key(addresses.client_address(peer, headers, gate.proxies))

    with pytest.raises(pr.WrongPasscode):
        gate.unlock("guess", client=key("127.0.0.1", {}))
    with pytest.raises(pr.TooManyTries):
        gate.unlock("guess", client=key("127.0.0.1", {"X-Forwarded-For": "203.0.113.1"}))
    with pytest.raises(pr.TooManyTries):
        gate.unlock("s3cret-code", client=key("127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}))
