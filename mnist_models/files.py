"""Where the app keeps its files, how it writes them (whole or not at all), and how it reads
a file someone else gave it (a regular file, never more than a cap)."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent  # the project: weights/, data/
HOME_ENV = "MNIST_APP_HOME"


def home() -> Path:
    """Where trained versions, the models in use, jobs, rooms and caches are kept."""
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else ROOT / "trained"


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to path via a temporary file and a rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(Path(tmp))  # never raises: the error above is the one to tell
        raise


def remove_quietly(path: Path) -> bool:
    """Remove a file in an error handler or a clean-up: True if it is gone. A failure (a
    read-only folder says so even for a file that is not there) is logged, never raised,
    so that it cannot hide the error being handled."""
    try:
        path.unlink(missing_ok=True)
        return True
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc.strerror or exc)
        return False


class Unreadable(ValueError):
    """A file read_capped refuses; str() is one phrase about it, without its path."""


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """(fd, stat) of a regular file, opened without blocking; Unreadable otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise Unreadable("is a folder, not a file")
        raise Unreadable("is not a regular file (a device, a pipe or a socket)")
    return fd, st


def check_regular(path: Path) -> int:
    """The size of a regular file, without reading it (nor waiting on a FIFO); Unreadable for
    anything else."""
    fd, st = _open_regular(path)
    os.close(fd)
    return st.st_size


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most max_bytes; Unreadable otherwise.

    Opened without blocking (a FIFO with no writer answers at once) and checked
    to be a regular file before a byte is read (/dev/zero, a FIFO, a socket are
    refused); then at most max_bytes + 1 bytes are read, whatever the size the
    file claims, so a file that grows while it is read is refused too.
    """
    fd, st = _open_regular(path)
    try:
        if st.st_size > max_bytes:
            raise Unreadable(f"is larger than {_size(max_bytes)}")
        chunks, got = [], 0
        while got <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > max_bytes:
            raise Unreadable(f"is larger than {_size(max_bytes)}")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n:,} bytes"
