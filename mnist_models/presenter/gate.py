"""The gate: the passcode, wrong tries slowed down per client, and signed presenter tokens.

A token proves an unlock. It is signed with a key made from a server secret and the
passcode, and carries its expiry and the presenter's name, so it can be kept in the
presenter's browser and still be good after a reload or a restart of the server, until it
expires (12 hours), is given back (the presenter locks), or the passcode changes (a new
passcode makes a new key, and every older token fails).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mnist_models.addresses import NO_PROXIES, TrustedProxies, is_local_request
from mnist_models.presenter.keep import Revoked

MIN_PASSCODE_LENGTH = 6
MAX_ATTEMPT_LENGTH = 256
MAX_NAME_LENGTH = 40
MAX_TOKEN_LENGTH = 512
TOKEN_TTL_S = 12 * 3600.0
MAX_CLIENTS = 10_000  # clients with wrong tries remembered; the oldest are forgotten first
TOKEN_VERSION = "p1"
# Generated passcodes: letters and digits that cannot be mistaken for each other.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class NotPresenter(PermissionError):
    """A shared action was asked for without the presenter's rights."""

    def __init__(self, what: str = "do that") -> None:
        super().__init__(f"Only the presenter can {what}: unlock with the presenter passcode.")


class WrongPasscode(ValueError):
    """The passcode did not match; the message says how many tries are left."""


class TooManyTries(PermissionError):
    """Too many wrong passcodes from this client: wait, then try again."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, round(seconds))
        super().__init__(f"Too many wrong passcodes. Try again in {self.seconds} s.")


@dataclass(frozen=True)
class Token:
    """Proof of an unlock: `value` is the signed text a browser may keep."""

    value: str
    name: str  # who unlocked, as shown to the room ("the presenter" by default)
    expires: float = 0.0  # wall-clock time (seconds since the epoch)


@dataclass
class _Strikes:
    count: int = 0  # wrong tries in a row
    last: float = 0.0  # when the last one came
    until: float = 0.0  # no try before this


def generate_passcode(length: int = 8) -> str:
    """A random passcode that is easy to type: 'k7mq-x3vp'."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{chars[: length // 2]}-{chars[length // 2 :]}"


def _digest(text: str) -> bytes:
    # Hashing both sides first makes the comparison take the same time
    # whatever the attempt's length.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Gate:
    """The passcode, the wrong tries per client, and the tokens; thread-safe.

    After `max_failures` wrong tries in a row a client waits `lockout_s`, and each further
    wrong try doubles the wait (up to `max_wait_s`); `window_s` without a wrong try
    forgets them. There is no limit for everyone together: no one can lock the presenter
    out by guessing from elsewhere."""

    def __init__(
        self,
        passcode: str,
        source: str,
        *,
        local_mode: bool = False,
        secret: bytes | None = None,
        revoked: Revoked | None = None,
        proxies: TrustedProxies = NO_PROXIES,
        max_failures: int = 5,
        window_s: float = 300.0,
        lockout_s: float = 60.0,
        max_wait_s: float = 900.0,
        token_ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if len(passcode) < MIN_PASSCODE_LENGTH:
            raise ValueError(
                f"the presenter passcode must have at least {MIN_PASSCODE_LENGTH} characters"
            )
        self._digest = _digest(passcode)
        self.source = source  # "secrets", "environment" or "generated"
        self.local_mode = local_mode
        self.proxies = proxies
        # Without a kept secret the tokens die with this gate.
        secret = secret or secrets.token_bytes(32)
        # The key depends on the passcode: a new passcode ends every token.
        self._key = hmac.new(secret, b"presenter-token\0" + self._digest, "sha256").digest()
        # Named after the secret, not the passcode: a server on another app home (another
        # port, same host) keeps its own, and a stale one here is found and removed.
        self.cookie_name = "mnist_presenter_" + hashlib.sha256(b"name\0" + secret).hexdigest()[:12]
        self._revoked = revoked or Revoked(None)
        self._max_failures = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._max_wait = max_wait_s
        self._ttl = token_ttl_s
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._strikes: OrderedDict[str, _Strikes] = OrderedDict()

    def unlock(self, attempt: str, client: str = "unknown", name: str = "") -> Token:
        """A token if `attempt` is the passcode; WrongPasscode or TooManyTries otherwise."""
        now = self._clock()
        with self._lock:
            strikes = self._strikes.get(client)
            if strikes is not None and now < strikes.until:
                raise TooManyTries(strikes.until - now)
        attempt = (attempt or "")[:MAX_ATTEMPT_LENGTH]
        if hmac.compare_digest(_digest(attempt), self._digest):
            with self._lock:
                self._strikes.pop(client, None)
            return self._issue(name)
        with self._lock:
            left, wait = self._strike(client, now)
        if wait:
            raise TooManyTries(wait)
        raise WrongPasscode(
            f"That is not the presenter passcode ({left} {'try' if left == 1 else 'tries'} left)."
        )

    def local_token(self, headers: Mapping[str, str], name: str = "") -> Token:
        """In local single-user mode, a token without a passcode, for a request from this
        machine's own browser only (addresses.is_local_request)."""
        if not self.local_mode or not is_local_request(headers):
            raise NotPresenter("skip the passcode")
        return self._issue(name)

    def read(self, value: object) -> Token | None:
        """The token that `value` (kept in a browser) is, if this gate signed it and it has
        neither expired nor been given back; None otherwise."""
        if not isinstance(value, str) or len(value) > MAX_TOKEN_LENGTH or not value.isascii():
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != TOKEN_VERSION:
            return None
        if not hmac.compare_digest(parts[4].encode(), self._sign(".".join(parts[:4])).encode()):
            return None
        _, expires, nonce, name, _ = parts
        try:
            token = Token(value, _unb64(name).decode("utf-8"), float(int(expires)))
        except ValueError:  # signed by us, so only a bug gets here; refuse rather than fail
            return None
        if token.expires <= self._wall() or nonce in self._revoked:
            return None
        return token

    def is_valid(self, token: object) -> bool:
        """Whether `token` came from this gate and is still good."""
        if not isinstance(token, Token):
            return False
        read = self.read(token.value)
        return read is not None and read.name == token.name

    def require(self, token: object, what: str = "do that") -> Token:
        """The token if valid; NotPresenter otherwise."""
        if not self.is_valid(token):
            raise NotPresenter(what)
        return token  # type: ignore[return-value]

    def lock(self, token: object) -> None:
        """Give a token back (the presenter locks): it is refused from now on, everywhere."""
        if isinstance(token, Token) and (read := self.read(token.value)) is not None:
            self._revoked.add(token.value.split(".")[2], read.expires)

    def seconds_left(self, token: Token) -> int:
        """How long `token` stays good, in whole seconds."""
        return max(0, int(token.expires - self._wall()))

    # -- internals --

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), "sha256").digest())

    def _issue(self, name: str) -> Token:
        clean = " ".join((name or "").split())[:MAX_NAME_LENGTH] or "the presenter"
        expires = int(self._wall() + self._ttl)
        payload = ".".join(
            (TOKEN_VERSION, str(expires), secrets.token_urlsafe(16), _b64(clean.encode()))
        )
        return Token(f"{payload}.{self._sign(payload)}", clean, float(expires))

    def _strike(self, client: str, now: float) -> tuple[int, float]:  # lock held
        """Count a wrong try: (tries left, seconds to wait before the next one, or 0)."""
        s = self._strikes.pop(client, None)
        if s is None or now - max(s.last, s.until) > self._window:
            s = _Strikes()
        s.count += 1
        s.last = now
        self._strikes[client] = s  # most recent last, so the oldest are forgotten first
        while len(self._strikes) > MAX_CLIENTS:
            self._strikes.popitem(last=False)
        left = self._max_failures - s.count
        if left > 0:
            return left, 0.0
        wait = min(self._max_wait, self._lockout * 2.0 ** (s.count - self._max_failures))
        s.until = now + wait
        return 0, wait
