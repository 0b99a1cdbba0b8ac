"""A private, throwaway PostgreSQL server for the tests: initdb and pg_ctl in a temporary
folder, listening on a free localhost port and a unix socket in that folder.

Root cannot run postgres, so as root the server runs as `nobody` (the folder is theirs).
Without PostgreSQL's binaries the tests that need it skip, except in CI (CI=true), where
they fail: CI must really test PostgreSQL (scripts/install_postgres.sh installs it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from browser_utils import free_port

SERVER_USER = "nobody"  # who runs the server when the tests run as root


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest Debian version first), or None."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name))

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version, reverse=True)
    found += [Path(p) for p in [shutil.which("initdb")] if p]
    for initdb in found:
        if (initdb.parent / "pg_ctl").exists() and (initdb.parent / "postgres").exists():
            return initdb.parent
    return None


def require_postgres() -> Path:
    """PostgreSQL's binaries; skip without them, except in CI, where that fails."""
    where = binaries()
    if where is None:
        problem = "no PostgreSQL server binaries (initdb, pg_ctl): scripts/install_postgres.sh"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL tests cannot run in CI: {problem}")
        pytest.skip(problem)
    return where


class Server:
    """A running server; `new_database()` makes an empty database and gives its URL."""

    def __init__(self, socket_dir: Path, port: int) -> None:
        self.socket_dir = socket_dir
        self.port = port
        self._names = itertools.count()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database on this server: its SQLAlchemy URL."""
        name = f"rooms_{next(self._names)}"
        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres"
        ) as admin:
            admin.autocommit = True  # CREATE DATABASE runs outside a transaction
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    """Start a throwaway server (initdb + pg_ctl start); stop and remove it afterwards."""
    bin_dir = require_postgres()
    root = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, SERVER_USER)

    def run(tool: str, *args: str) -> None:
        cmd = [str(bin_dir / tool), *args]
        if as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=root)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            pytest.fail(f"{tool} failed: {done.stderr.strip()}\n{log[-2000:]}")

    data, sockets, port = root / "data", root / "sockets", free_port()
    run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    sockets.mkdir()
    if as_root:
        shutil.chown(sockets, SERVER_USER)
    # Durability is not under test: no fsync makes creating databases and committing fast.
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    log = str(root / "server.log")
    run("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", log, "-o", options)
    try:
        yield Server(sockets, port)
    finally:
        with contextlib.suppress(BaseException):
            run("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
        shutil.rmtree(root, ignore_errors=True)
