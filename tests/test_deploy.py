"""The lecture-hall deployment for real: deploy/hall.sh starts PostgreSQL, two app servers
and nginx on loopback; phones (bench_room's websocket sessions, as a browser drives the
pages) draw through the proxy on both servers into one room that one wall shows; the
database goes away under load and comes back, and nothing is lost.

Without nginx or PostgreSQL's binaries these tests skip, except in CI, where they fail
(scripts/install_nginx.sh and scripts/install_postgres.sh install them).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pg
import pytest
from browser_utils import free_port, launch_chromium, require_browser
from room_phones import Phone as BrowserPhone
from room_phones import digit_strokes

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.rooms import store as room_store

ROOT = Path(__file__).resolve().parent.parent
HALL = ROOT / "deploy" / "hall.sh"
sys.path.insert(0, str(ROOT / "bench"))
import bench_room  # noqa: E402  (bench/ is not a package)
import through  # noqa: E402

# What a phone shows when the database refuses a Send (room_phone.STORE_AWAY), and what
# the wall shows meanwhile (room_wall.WAITING).
UNAVAILABLE = "database is not answering right now"
WALL_WAITING = "Waiting for the room"


def hall(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """deploy/hall.sh with this Python for the app servers."""
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("MNIST_PRESENTER_PASSCODE", None)
    return subprocess.run(
        ["bash", str(HALL), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def require_nginx() -> None:
    """Skip without nginx, except in CI, where that fails."""
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        return
    problem = "nginx is not installed (scripts/install_nginx.sh)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the deployment tests cannot run in CI: {problem}")
    pytest.skip(problem)


@dataclass
class Hall:
    state: Path
    listen: str
    url: str  # the proxy, as phones reach it here
    db: str  # the rooms' database URL

    def env(self) -> dict[str, str]:
        """hall.env's settings."""
        found = {}
        for line in (self.state / "hall.env").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]  # written with printf %q
        return found

    def pids(self) -> list[int]:
        """The app servers' and nginx's processes, from their pid files."""
        files = [*self.state.glob("servers/*.pid"), self.state / "nginx" / "nginx.pid"]
        return [int(f.read_text()) for f in files if f.exists()]

    def start(self, servers: int) -> None:
        done = hall(
            "start", "--servers", str(servers), "--listen", self.listen, "--state", str(self.state)
        )
        assert done.returncode == 0, done.stderr + done.stdout
        assert f"The hall runs, its state in {self.state}" in done.stdout
        self.db = self.env()["MNIST_ROOM_DB"]


@pytest.fixture(scope="module")
def running() -> Iterator[Hall]:
    """A hall of two app servers behind nginx, over its own PostgreSQL, on loopback."""
    require_nginx()
    pg.require_postgres()
    # Under /tmp, not pytest's private folder: PostgreSQL runs as another user there.
    state = Path(tempfile.mkdtemp(prefix="mnist-hall-test-"))
    listen = f"127.0.0.1:{free_port()}"
    h = Hall(state, listen, f"http://{listen}", "")
    try:
        h.start(servers=2)
        yield h
    finally:
        hall("stop", "--state", str(state), timeout=120)
        shutil.rmtree(state, ignore_errors=True)


@functools.cache
def digits(n: int = 21) -> list:
    """Real MNIST test digits' skeleton strokes on the phone canvas, with their labels."""
    test = data.load_split("test")
    c = bench_room.CANVAS
    out = []
    for i in range(n):
        strokes = synth.digit_strokes(test.images[i].numpy())
        out.append((synth.place_strokes(strokes, 0.6 * c, 0.2 * c, 0.2 * c), int(test.labels[i])))
    return out


class Phone(bench_room.Phone):
    """A phone that retries a refused Send, as a person would, until the wall has it."""

    def __init__(self, url: str, code: str, i: int, digits: list) -> None:
        super().__init__(url, code, i, digits)
        self.refused = 0  # Sends refused because the database was away
        self.first_server = ""  # who answered the first visit (the proxy's cookie)
        self.last_ok = 0.0  # when the last Send was confirmed

    async def visit(self) -> None:
        self.s.headers, self.first_server = await asyncio.to_thread(
            through.first_visit, self.s.url, self.s.source
        )

    async def draw_and_send(self, strokes, label: int) -> None:
        canvas = bench_room.canvas_value(strokes)
        els = await self.s.run(self._states(canvas, None, False), self.fragment)
        if "answer-cnn" not in bench_room.streamed_html(els):
            self.errors.append("no answer")
            return
        # A person sends at most once a second (the room's rate limit): after retries the
        # next drawing may come sooner than the phone's period.
        await asyncio.sleep(max(0.0, self.last_ok + 1.1 - time.monotonic()))
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            t = time.monotonic()
            body = bench_room.streamed_html(
                await self.s.run(self._states(canvas, label, True), self.fragment)
            )
            if "to the wall" in body:
                self.sends.append(t)
                self.last_ok = time.monotonic()
                self.gen += 1
                return
            if UNAVAILABLE not in body:
                self.errors.append(body[:300])
                return
            self.refused += 1
            await asyncio.sleep(0.5)
        self.errors.append("still refused after 45 s")


class Wall(bench_room.Wall):
    """The wall, noting whether it said the database was away."""

    said_unavailable = False

    def record(self, els: list) -> None:
        super().record(els)
        self.said_unavailable |= WALL_WAITING in bench_room.streamed_html(els)


async def room_under_load(h: Hall, phones: int, seconds: float, during=None) -> dict:
    """`phones` phones send a digit every 1.5 s for `seconds` into a new room, `during(t0)`
    runs alongside (in a thread); then the wall keeps looking until it counts them all."""
    store = room_store.open_store(h.db)
    code = store.create_room("hall test").code
    wall = Wall(h.url, code)
    ps = [Phone(h.url, code, i, digits()[i % 3 :: 3]) for i in range(phones)]
    wall.s.headers = (await asyncio.to_thread(through.first_visit, h.url))[0]
    await wall.start()
    for p in ps:
        await p.visit()
        await p.start()
    t0 = time.monotonic()
    wall_task = asyncio.create_task(wall.loop())
    side = asyncio.create_task(asyncio.to_thread(during, t0)) if during else None
    await asyncio.gather(*(p.loop(t0 + seconds, 1.5) for p in ps))
    if side:
        await side
    sent = sum(len(p.sends) for p in ps)
    stored = store.drawings(code, include_hidden=True)
    deadline = time.monotonic() + 20  # the wall looks once a second
    while wall.stats != str(len(stored)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    wall.stop_at = 0
    await wall_task
    for s in [p.s for p in ps] + [wall.s]:
        await s.close()
    store.close()
    return {
        "phones": ps,
        "wall": wall,
        "sent": sent,
        "stored": stored,
        "errors": [e for p in ps for e in p.errors],
    }


def each_phone_stored_what_it_sent(r: dict) -> bool:
    """Every phone's confirmed Sends are its stored drawings: none lost, none twice."""
    sent = {p.nick: len(p.sends) for p in r["phones"]}
    return {n: sum(d.nickname == n for d in r["stored"]) for n in sent} == sent


@pytest.mark.slow
def test_phones_on_two_servers_behind_the_proxy_fill_one_room_on_one_wall(running: Hall) -> None:
    r = asyncio.run(room_under_load(running, phones=16, seconds=8))
    ps, wall = r["phones"], r["wall"]
    servers = {p.s.server for p in ps}
    # The proxy spread the phones over both servers, and each phone's websocket went to the
    # server its first visit did (the sticky cookie): uploads and media would reach it too.
    assert len(servers) == 2 and all(s.startswith("127.0.0.1:") for s in servers), servers
    assert all(p.s.server == p.first_server for p in ps)
    assert r["errors"] == []
    ids = sorted(d.id for d in r["stored"])
    # Every drawing sent is stored once, and the one wall counts every one and shows the
    # newest as its tiles (under load more may come in one of its seconds than it has tiles).
    assert r["sent"] == len(ids) >= 2 * len(ps)
    assert each_phone_stored_what_it_sent(r)
    assert wall.stats == str(len(ids))
    assert set(wall.first_seen) <= set(ids)
    assert wall.tiles and wall.tiles == ids[::-1][: len(wall.tiles)]


@pytest.mark.slow
def test_a_database_outage_under_load_loses_nothing_and_the_wall_recovers(running: Hall) -> None:
    def outage(t0: float) -> None:
        time.sleep(max(0.0, t0 + 4 - time.monotonic()))
        stopped = hall("db", "stop", "--state", str(running.state), timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        time.sleep(4)
        started = hall("db", "start", "--state", str(running.state), timeout=60)
        assert started.returncode == 0, started.stderr

    r = asyncio.run(room_under_load(running, phones=12, seconds=16, during=outage))
    ps, wall = r["phones"], r["wall"]
    # Sends were refused while the database was away (so the outage was real), each with
    # the store's sentence; retried, every one of them was stored, and no other.
    assert sum(p.refused for p in ps) >= 6
    assert r["errors"] == []
    assert r["sent"] == len(r["stored"]) >= 3 * len(ps)
    assert each_phone_stored_what_it_sent(r)
    # The wall said so meanwhile, and caught up by itself: it counts every drawing and
    # shows the newest as its tiles. (The retries land together as the database comes back,
    # more of them in a second than the wall has tiles: some were never a tile.)
    assert wall.said_unavailable
    ids = sorted(d.id for d in r["stored"])
    assert wall.stats == str(len(ids))
    assert set(wall.first_seen) <= set(ids)
    assert wall.tiles and wall.tiles == ids[::-1][: len(wall.tiles)]


@pytest.mark.slow
@pytest.mark.browser
def test_a_phone_in_chromium_draws_through_the_proxy_on_one_server(running: Hall) -> None:
    require_browser()
    store = room_store.open_store(running.db)
    code = store.create_room("browser through the proxy").code
    servers: set[str] = set()
    with launch_chromium() as browser:
        phone = BrowserPhone(browser, running.url, code)
        # From here every response the page gets (the page, its scripts, the canvas
        # component, the host config) names the server behind the proxy.
        # (Not the page's own blob: and data: URLs, such as its components' scripts.)
        phone.page.on(
            "response",
            lambda r: (
                r.url.startswith("http")
                and servers.add(r.headers.get("x-hall-server", "") or r.url)
            ),
        )
        phone.page.reload()
        phone.page.locator("canvas").last.wait_for(timeout=90_000)
        phone.page.locator("#verdict").wait_for(timeout=60_000)
        phone.draw(digit_strokes(3))
        assert phone.answers() is not None
        phone.send(3)
        cookies = {c["name"] for c in phone.context.cookies()}
        phone.close()
    [d] = store.drawings(code)
    store.close()
    assert d.label == 3 and "mnist_hall" in cookies
    # One visit, one server: uploads and media files would find their session.
    assert len(servers) == 1 and "" not in servers, servers


@pytest.mark.slow
def test_a_stopped_hall_leaves_nothing_running_and_starts_again_with_its_rooms(
    running: Hall,
) -> None:
    store = room_store.open_store(running.db)
    before = {r.code: len(store.drawings(r.code)) for r in store.list_rooms()}
    store.close()
    assert before and all(before.values())
    pids = running.pids()
    stopped = hall("stop", "--state", str(running.state), timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert "rooms stay in" in stopped.stdout
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    host, port = running.listen.split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass
    assert hall("status", "--state", str(running.state)).returncode == 3
    # Started again, on one server: the rooms and their drawings are all there, through
    # the proxy too (the wall counts them).
    running.start(servers=1)
    store = room_store.open_store(running.db)
    assert {r.code: len(store.drawings(r.code)) for r in store.list_rooms()} == before
    store.close()
    code, count = next(iter(before.items()))

    async def wall_count() -> str:
        wall = bench_room.Wall(running.url, code)
        await wall.start()
        await wall.s.close()
        return wall.stats

    assert asyncio.run(wall_count()) == str(count)
    with urllib.request.urlopen(running.url + "/_stcore/health", timeout=10) as ok:
        assert ok.status == 200


def test_bad_arguments_get_one_sentence(tmp_path: Path) -> None:
    state = str(tmp_path / "hall")
    for args, says in [
        (["start", "--servers", "0", "--state", state], "--servers takes a whole number"),
        (["start", "--servers", "two", "--state", state], "--servers takes a whole number"),
        (["start", "--listen", "here", "--state", state], "--listen takes HOST:PORT"),
        (["start", "--state"], "--state needs a value"),
        (["start", "--colour", "red"], "unknown option --colour"),
        (["restart"], "usage: deploy/hall.sh start"),
        (["db", "stop", "--state", state], "no hall in"),
        (["start", "--db", "mysql://ann@db/rooms", "--state", state], "postgresql+psycopg://"),
    ]:
        done = hall(*args, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert hall("stop", "--state", state).stdout.startswith("No hall in")
