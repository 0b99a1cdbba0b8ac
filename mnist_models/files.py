"""Where the app keeps its files, and how it writes them: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
        Path(tmp).unlink(missing_ok=True)
        raise
