"""For `bench_room.py --through URL`: reach the app servers through a proxy as a browser
does, and find the processes behind it to measure.

A browser's first request gets the proxy's sticky cookie (deploy/nginx.conf), and every
later request, the websocket included, carries it to the same server; the proxy names
that server in an X-Hall-Server header. The servers are then found by their ports, and a
PostgreSQL reached over a unix socket by the lock file beside its socket.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

SERVER_HEADER = "X-Hall-Server"


def first_visit(url: str, source: str | None = None) -> tuple[dict[str, str], str]:
    """GET the app's page as a browser's first visit (from the address `source` when
    given, as Session connects): (headers for the websocket, the server that answered, as
    host:port; "" when no proxy named one)."""
    parts = urllib.parse.urlsplit(url)
    if source and parts.scheme == "http":
        conn = http.client.HTTPConnection(
            parts.hostname, parts.port or 80, timeout=30, source_address=(source, 0)
        )
        try:
            conn.request("GET", (parts.path.rstrip("/") or "") + "/")
            r = conn.getresponse()
            r.read()
            cookies = [c.split(";", 1)[0].strip() for c in r.headers.get_all("Set-Cookie") or []]
            server = r.headers.get(SERVER_HEADER, "")
        finally:
            conn.close()
    else:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=30) as r:
            cookies = [c.split(";", 1)[0].strip() for c in r.headers.get_all("Set-Cookie") or []]
            server = r.headers.get(SERVER_HEADER, "")
    return ({"Cookie": "; ".join(cookies)} if cookies else {}), server


def server_port(server: str) -> int | None:
    """The port of a host:port the proxy named, or None."""
    m = re.fullmatch(r".*:(\d+)", server.strip())
    return int(m.group(1)) if m else None


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its children that ended (the kernel adds them to it when
    they are reaped) and its live children: PostgreSQL's postmaster and its backends."""
    tick = os.sysconf("SC_CLK_TCK")
    f = _stat(pid)
    total = sum(int(x) for x in f[11:15])  # utime, stime, cutime, cstime
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            c = _stat(int(d.name))
        except (OSError, IndexError):
            continue
        if int(c[1]) == pid:  # ppid
            total += int(c[11]) + int(c[12])
    return total / tick


def postgres_pid(url: str) -> int | None:
    """The postmaster of a PostgreSQL reached over a unix socket on this machine, else None.

    Its socket's lock file (``<dir>/.s.PGSQL.<port>.lock``) holds its PID on the first line.
    """
    import sqlalchemy as sa

    try:
        u = sa.make_url(url)
    except Exception:  # noqa: BLE001  not a URL (an SQLite file): no server to measure
        return None
    if u.get_backend_name() != "postgresql":
        return None
    host = u.query.get("host") or u.host or ""
    host = host[0] if isinstance(host, tuple) else host
    port = u.query.get("port") or u.port or 5432
    port = port[0] if isinstance(port, tuple) else port
    if not str(host).startswith("/"):
        return None  # over TCP: perhaps another machine
    try:
        pid = int(Path(host, f".s.PGSQL.{port}.lock").read_text().split()[0])
        _stat(pid)
    except (OSError, ValueError, IndexError):
        return None
    return pid
