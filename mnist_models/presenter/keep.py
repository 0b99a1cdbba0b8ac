"""What the presenter's gate keeps under the app home, private to its owner (0600): the
server secret that signs tokens, a generated passcode, and the tokens given back.

Every server started on one app home shares these files, so a token one of them signed is
good on the others, and a lock on one is a lock on all.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mnist_models import files

SECRET_FILE = "presenter-secret"
PASSCODE_FILE = "presenter-passcode"
REVOKED_FILE = "presenter-revoked"
MAX_REVOKED_BYTES = 256 * 1024  # about 3,000 locks; expired ones are dropped beyond that
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class KeepError(ValueError):
    """A kept file is there but unusable; the message says what to do, in one sentence."""


def private_value(path: Path, make: Callable[[], str], check: Callable[[str], bool]) -> str:
    """The value kept in `path`, made by `make` and written once (0600) if there is none.

    OSError when the file cannot be read or made (a read-only home); KeepError when it
    holds something `check` refuses."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(make() + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # whole or not at all, and never over another server's
            except FileExistsError:
                pass  # another server on this home made it first: use theirs
        finally:
            files.remove_quietly(Path(tmp))  # never raises over the error being handled
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone widened it: only the owner may read a secret
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not check(text):
        raise KeepError(
            f"{path} is damaged: delete it and restart the server (every presenter "
            "then unlocks again)"
        )
    return text


def server_secret(home: Path) -> bytes:
    """The 32-byte secret of every server on `home` (made once)."""
    text = private_value(
        home / SECRET_FILE,
        lambda: os.urandom(32).hex(),
        lambda t: bool(re.fullmatch(r"[0-9a-f]{64}", t)),
    )
    return bytes.fromhex(text)


def kept_passcode(home: Path, make: Callable[[], str]) -> str:
    """The generated passcode of every server on `home` (made once, so a restart keeps it)."""
    return private_value(home / PASSCODE_FILE, make, lambda t: 6 <= len(t) <= 256)


class Revoked:
    """The tokens given back before they expired, by nonce; in `path` (shared by every
    server on one home) or, with no path, in memory."""

    def __init__(self, path: Path | None, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall_clock
        self._nonces: dict[str, float] = {}
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) last read
        self._lock = threading.Lock()

    def add(self, nonce: str, expires: float) -> None:
        """Refuse the token with this nonce from now on (until it would have expired)."""
        with self._lock:
            self._nonces[nonce] = expires
            if self.path is not None:
                self._append(nonce, expires)

    def __contains__(self, nonce: object) -> bool:
        with self._lock:
            if self.path is not None:
                self._load()
            return isinstance(nonce, str) and self._nonces.get(nonce, 0) > self._wall()

    def _append(self, nonce: str, expires: float) -> None:  # lock held
        line = f"{nonce} {int(expires)}\n".encode()
        try:
            # Appends of one short line are whole even with several servers writing at once.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > MAX_REVOKED_BYTES:
                self._load()
                live = "".join(f"{n} {int(e)}\n" for n, e in self._nonces.items())
                files.atomic_write(self.path, live.encode())
                os.chmod(self.path, 0o600)
        except OSError:
            pass  # a read-only home: this server still refuses it (the memory above)

    def _load(self) -> None:  # lock held
        try:
            st = self.path.stat()  # type: ignore[union-attr]
            if (st.st_mtime_ns, st.st_size) == self._seen:
                return
            text = self.path.read_text(errors="replace")  # type: ignore[union-attr]
        except OSError:
            return  # none yet, or unreadable: what this server itself locked still counts
        now = self._wall()
        for line in text.splitlines():
            nonce, _, expires = line.partition(" ")
            if _NONCE.fullmatch(nonce) and expires.isdigit() and int(expires) > now:
                self._nonces[nonce] = float(expires)
        self._nonces = {n: e for n, e in self._nonces.items() if e > now}
        self._seen = (st.st_mtime_ns, st.st_size)
