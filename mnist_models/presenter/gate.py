"""Presenter rights: who may change what everyone using the server shares.

Everyone may draw, upload, explore and read the experiments. Changing shared
state (starting, cancelling or dismissing a training run, putting a model in
use, deleting a version, running a room) needs the presenter, who unlocks with
a passcode. The passcode comes from the app's secrets or an environment
variable; if neither is set, one is generated when the server starts and printed
in its terminal, as Jupyter prints its token.

A ``Gate`` owns the passcode, the tokens it has handed out and the count of
wrong tries. Tokens live only in this process: a restarted server asks the
presenter to unlock again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mnist_models.addresses import is_local_address

PASSCODE_ENV = "MNIST_PRESENTER_PASSCODE"
LOCAL_MODE_ENV = "MNIST_LOCAL_MODE"  # "1": no passcode while the server listens on localhost only
MIN_PASSCODE_LENGTH = 6
MAX_ATTEMPT_LENGTH = 256
MAX_NAME_LENGTH = 40
# Generated passcodes: letters and digits that cannot be mistaken for each other.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class NotPresenter(PermissionError):
    """A shared action was asked for without the presenter's rights."""

    def __init__(self, what: str = "do that") -> None:
        super().__init__(f"Only the presenter can {what}: unlock with the presenter passcode.")


class WrongPasscode(ValueError):
    """The passcode did not match; the message says how many tries are left."""


class TooManyTries(PermissionError):
    """Too many wrong passcodes from this client (or from everyone): wait, then try again."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, round(seconds))
        super().__init__(f"Too many wrong passcodes. Try again in {self.seconds} s.")


@dataclass(frozen=True)
class Token:
    """Proof of an unlock, kept in the presenter's browser session (never sent to it)."""

    value: str
    name: str  # who unlocked, as shown to the room ("the presenter" by default)


def generate_passcode(length: int = 8) -> str:
    """A random passcode that is easy to type: 'k7mq-x3vp'."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{chars[: length // 2]}-{chars[length // 2 :]}"


def _digest(text: str) -> bytes:
    # Hashing both sides first makes the comparison take the same time
    # whatever the attempt's length.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Gate:
    """The passcode, the tokens handed out, and the wrong tries; thread-safe."""

    def __init__(
        self,
        passcode: str,
        source: str,
        *,
        local_mode: bool = False,
        max_failures: int = 5,
        window_s: float = 300.0,
        lockout_s: float = 60.0,
        global_failures_per_minute: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(passcode) < MIN_PASSCODE_LENGTH:
            raise ValueError(
                f"the presenter passcode must have at least {MIN_PASSCODE_LENGTH} characters"
            )
        self._digest = _digest(passcode)
        self.source = source  # "secrets", "environment" or "generated"
        self.local_mode = local_mode
        self._max_failures = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._global_per_minute = global_failures_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._failures: dict[str, deque[float]] = {}  # client -> times of wrong tries
        self._locked_until: dict[str, float] = {}
        self._recent: deque[float] = deque()  # every wrong try, for the global limit

    @classmethod
    def from_settings(
        cls,
        secret: str | None,
        listen_address: str | None,
        local_mode_setting: bool = False,
        env: Mapping[str, str] | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> Gate:
        """The gate for this server: the passcode from the secrets, else the environment,
        else generated and announced (printed to the terminal by default)."""
        env = os.environ if env is None else env
        local = is_local_address(listen_address)
        local_mode = bool(local_mode_setting or env.get(LOCAL_MODE_ENV, "") in ("1", "true"))
        if secret:
            gate = cls(str(secret), "secrets", local_mode=local_mode and local)
        elif env.get(PASSCODE_ENV):
            gate = cls(env[PASSCODE_ENV], "environment", local_mode=local_mode and local)
        else:
            code = generate_passcode()
            gate = cls(code, "generated", local_mode=local_mode and local)
            say = announce or _print
            say(
                f"Presenter passcode: {code}   (to choose your own, set {PASSCODE_ENV} or "
                "presenter_passcode in .streamlit/secrets.toml)"
            )
        if local_mode and not local:
            (announce or _print)(
                "Local single-user mode is off: the server listens beyond "
                "this machine, so the presenter passcode is required."
            )
        return gate

    def unlock(self, attempt: str, client: str = "unknown", name: str = "") -> Token:
        """A token if `attempt` is the passcode; WrongPasscode or TooManyTries otherwise."""
        now = self._clock()
        with self._lock:
            self._check_limits(client, now)
        attempt = (attempt or "")[:MAX_ATTEMPT_LENGTH]
        if not hmac.compare_digest(_digest(attempt), self._digest):
            with self._lock:
                left = self._record_failure(client, now)
            if left <= 0:
                raise TooManyTries(self._lockout)
            raise WrongPasscode(
                f"That is not the presenter passcode ({left} "
                f"{'try' if left == 1 else 'tries'} left)."
            )
        return self._issue(name)

    def local_token(self, name: str = "") -> Token:
        """In local single-user mode, a token without a passcode."""
        if not self.local_mode:
            raise NotPresenter("skip the passcode")
        return self._issue(name)

    def is_valid(self, token: object) -> bool:
        """Whether `token` came from this gate and has not been given back."""
        if not isinstance(token, Token):
            return False
        with self._lock:
            return self._tokens.get(token.value) == token

    def require(self, token: object, what: str = "do that") -> Token:
        """The token if valid; NotPresenter otherwise."""
        if not self.is_valid(token):
            raise NotPresenter(what)
        return token  # type: ignore[return-value]

    def lock(self, token: object) -> None:
        """Give a token back (the presenter locks their session)."""
        if isinstance(token, Token):
            with self._lock:
                self._tokens.pop(token.value, None)

    # -- internals (called with self._lock held where noted) --

    def _issue(self, name: str) -> Token:
        clean = " ".join((name or "").split())[:MAX_NAME_LENGTH] or "the presenter"
        token = Token(secrets.token_urlsafe(32), clean)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def _check_limits(self, client: str, now: float) -> None:  # lock held
        until = self._locked_until.get(client, 0.0)
        if now < until:
            raise TooManyTries(until - now)
        while self._recent and now - self._recent[0] > 60.0:
            self._recent.popleft()
        if len(self._recent) >= self._global_per_minute:
            raise TooManyTries(60.0 - (now - self._recent[0]))

    def _record_failure(self, client: str, now: float) -> int:  # lock held
        tries = self._failures.setdefault(client, deque())
        tries.append(now)
        while tries and now - tries[0] > self._window:
            tries.popleft()
        self._recent.append(now)
        left = self._max_failures - len(tries)
        if left <= 0:
            self._locked_until[client] = now + self._lockout
            tries.clear()
        return left


def _print(message: str) -> None:
    bar = "=" * min(100, len(message))
    sys.stderr.write(f"\n{bar}\n{message}\n{bar}\n\n")
    sys.stderr.flush()
