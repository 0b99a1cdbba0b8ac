"""Audience-room load: N phones and one wall against `streamlit run app.py` (a benchmark).

Every phone and the wall is a real Streamlit session: a light client that
speaks the browser's websocket protocol (BackMsg/ForwardMsg protobufs) to the
same pages and code path a browser uses, without drawing anything. Each phone
joins one room (`/join?room=CODE`), then every 3 s draws a real MNIST test
digit (its skeleton strokes, as the canvas component would report them), waits
for both answers, taps its label and Send. The wall (`/wall?room=CODE`) reruns
its live fragment every second as the browser would. Reported per N:

- drawings sent (confirmed on the phone) / stored / shown on the wall as a tile /
  counted on the wall (its drawing count at the end);
- pen-up to answer on the phone: from the canvas's report reaching the
  server to both answers back (median, p95); a browser adds the canvas's own
  200 ms wait and its drawing time;
- send to on-the-wall: from the Send tap to the wall's first run that lists
  the drawing (median, p95);
- the server's memory (RSS at the end, and its peak) and CPU seconds per drawing
  (everything the server did: strokes, sends and the wall, divided by drawings).

    python bench/bench_room.py                 # N = 10, 25, 50; 60 s each
    python bench/bench_room.py --phones 10 --seconds 20
    python bench/bench_room.py --per-run       # what each kind of run costs, one at a time

`--per-run` prices the parts of that figure one at a time, nothing else running: a
drawing (its answer and its Send, phones taking turns within the rate limit), a phone's
room line, and a look of the wall at the room those drawings made (medians of 3 rounds).

`--through URL` sends the same phones and wall through a proxy in front of servers
already running (deploy/hall.sh), each phone first visiting the page for the proxy's
sticky cookie, as a browser does; the room goes in $MNIST_ROOM_DB (source the hall's
hall.env). It adds each server's phones and memory, and the database's CPU:

    (. /tmp/mnist-hall/hall.env && python bench/bench_room.py --through "$HALL_LOCAL_URL")
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import through
from browser_utils import streamlit_server
from helpers import canvas_value, streamed_html

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.rooms import store as room_store

CANVAS = 448
RECV_TIMEOUT_S = 120.0  # the longest a run's next message may take, even on a starved server
ANSWER = re.compile(r'id="answer-(\w+)">(\d)<')
TILE = re.compile(r'id="tile-(\d+)"')


class Session:
    """One Streamlit session over the websocket, as a browser tab would hold it.

    It keeps what a browser keeps for the page: the cookies the page writes (through
    app_pages/browser_store, sent again on the next connection), the page's localStorage
    (app_pages/room_keep), and the state each of the page's components reported; and it
    answers those components as their scripts in a browser would (assets/browser_store.js,
    assets/room-keep.js), with the rerun that each answer causes there. It connects from
    `source` (a loopback address of its own: one device, one client address) when given,
    and sends the Origin header a browser sends on a websocket.
    """

    def __init__(self, url: str, page: str, query: str, source: str | None = None) -> None:
        self.url, self.page, self.query, self.source = url, page, query, source
        self.widgets: dict[str, str] = {}  # key suffix -> full widget id
        self.where: dict[str, str] = {}  # key suffix -> the fragment its element is in
        self.fragments: set[str] = set()
        self.every: dict[str, float] = {}  # fragment -> seconds between its auto-reruns
        self.page_hash = ""
        self.ws = None
        self.headers: dict[str, str] = {}  # for the handshake (--through: the proxy's cookie)
        self.server = ""  # host:port of the server behind a proxy, as the proxy names it
        self.cookies: dict[str, str] = {}  # name -> value the page had this browser keep
        self.local: dict[str, str] = {}  # this browser's localStorage
        self.states: dict[str, object] = {}  # widget id -> a component's reported state
        self.lock = asyncio.Lock()  # one run at a time, as a browser tab sends them

    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    async def connect(self) -> None:
        import websockets

        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        headers = {**self.headers, "Origin": self.origin()}
        jar = [c for c in [headers.pop("Cookie", "")] if c]
        jar += [f"{k}={urllib.parse.quote(v)}" for k, v in self.cookies.items()]
        if jar:
            headers["Cookie"] = "; ".join(jar)
        self.ws = await websockets.connect(
            ws_url,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=60,
            additional_headers=headers,
            **({"local_addr": (self.source, 0)} if self.source else {}),
        )
        self.server = self.ws.response.headers.get(through.SERVER_HEADER, "")

    async def run(self, states: list, fragment: str = "", auto: bool = False) -> list:
        """Send one rerun with these widget states; return the elements it produced, and
        those of the reruns that the page's components then caused (as in a browser)."""
        async with self.lock:
            out, replies = await self._run(states, fragment, auto)
            for _ in range(3):  # an answer's run may ask again (a new write): answer it too
                if not replies:
                    break
                again, replies = await self._run(*replies)
                out += again
            return out

    async def _run(self, states: list, fragment: str, auto: bool) -> tuple[list, tuple | None]:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_name = self.page
        cs.page_script_hash = self.page_hash
        cs.fragment_id = fragment
        cs.is_auto_rerun = auto
        sent = {st.id for st in states}
        for st in [*states, *(v for k, v in self.states.items() if k not in sent)]:
            cs.widget_states.widgets.append(st)
        await self.ws.send(msg.SerializeToString())
        out = []
        answers: list = []  # (fragment, widget state): what the components say back
        while True:
            fm = ForwardMsg()
            try:  # a run the server never finishes fails the bench rather than hanging it
                fm.ParseFromString(await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT_S))
            except TimeoutError:
                raise RuntimeError(
                    f"no message from the server in {RECV_TIMEOUT_S:.0f} s"
                ) from None
            kind = fm.WhichOneof("type")
            if kind == "navigation":  # the page shown (new_session's hash is the app's)
                self.page_hash = fm.navigation.page_script_hash or self.page_hash
            elif kind == "auto_rerun":
                self.every[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
            elif kind == "delta":
                d = fm.delta
                if d.fragment_id:
                    self.fragments.add(d.fragment_id)
                if d.WhichOneof("type") == "new_element":
                    el = d.new_element
                    which = el.WhichOneof("type")
                    sub = getattr(el, which) if which else None
                    wid = getattr(sub, "id", "") if sub is not None else ""
                    if wid.startswith("$$ID-"):
                        key = wid.split("-", 2)[2]
                        self.widgets[key] = wid
                        self.where[key] = d.fragment_id
                    if which == "bidi_component":
                        answers += [(d.fragment_id, a) for a in self._component(sub)]
                    out.append((which, sub))
            elif kind == "script_finished":
                # A run that ends in st.rerun is followed at once by the new run.
                if fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    if not answers:
                        return out, None
                    # One rerun carries every answer, in the scope of the first one's part.
                    return out, ([a for _, a in answers], answers[0][0], False)

    def _component(self, el) -> list:
        """What this page's component would do in a browser with the data it was given:
        the widget states it reports back (each causes a rerun there)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        try:
            data = json.loads(el.json) if el.WhichOneof("data") == "json" else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return []
        name = el.component_name
        if name.endswith("mnist_browser_store") and isinstance(data.get("ops"), list):
            for op in data["ops"]:  # assets/browser_store.js: cookies, then "done"
                if op.get("value") is None or not op.get("max_age"):
                    self.cookies.pop(op["name"], None)
                else:
                    self.cookies[op["name"]] = op["value"]
            events = json.dumps([{"event": "done", "value": data.get("batch")}])
            trigger = f"$$STREAMLIT_INTERNAL_KEY_{el.id}__events"
            return [WidgetState(id=trigger, json_trigger_value=events)]
        if name.endswith("mnist_room_keep"):  # assets/room-keep.js, storage that works
            op = data.get("op")
            if op == "save":
                self.local["room-unsent"] = json.dumps(
                    {"room": data.get("room"), "strokes": data.get("strokes")}
                )
            elif op == "clear":
                self.local.pop("room-unsent", None)
            elif op == "ask":
                kept = json.loads(self.local.get("room-unsent", "null")) or {}
                mine = kept.get("room") == data.get("room") and isinstance(kept.get("strokes"), str)
                reply = {"ask": data.get("ask"), "kept": kept["strokes"] if mine else ""}
                reply["failed"] = False
                state = WidgetState(id=el.id, json_value=json.dumps({"reply": reply}))
                if self.states.get(el.id) != state:
                    self.states[el.id] = state
                    return [state]
        return []

    def widget(self, key: str):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        return WidgetState(id=self.widgets[key])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def device_address(url: str, i: int) -> str | None:
    """A loopback address of phone `i`'s own (127.1.x.y), as each phone in a hall is its
    own device with its own address, when `url` is on this machine's loopback; None (the
    system's choice) otherwise. Every limit per client address applies to it as to a phone."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or ":" in host:
        return None
    return f"127.1.{i // 254 % 256}.{i % 254 + 1}"


class Phone:
    """A phone on the join page: it draws, reads both answers, labels and sends, and
    follows the room as the page's browser does (its `follow` part every FOLLOW_S)."""

    def __init__(self, url: str, code: str, i: int, digits: list) -> None:
        self.s = Session(url, "join", f"room={code}", device_address(url, i))
        self.nick = f"phone-{i}"
        self.digits = digits
        self.gen = 0
        self.answer_ms: list[float] = []
        self.sends: list[float] = []  # monotonic time of each confirmed Send
        self.errors: list[str] = []

    def _states(self, canvas: str | None, label: int | None, send: bool) -> list:
        labels = self.s.widget(f"room-labels-{self.gen}")
        if label is not None:
            labels.string_array_value.data.append(str(label))
        else:
            labels.string_array_value.SetInParent()
        nick = self.s.widget("room-nick")
        nick.string_value = self.nick
        out = [labels, nick]
        if canvas is not None:
            c = self.s.widget(f"room-canvas-{self.gen}")
            c.json_value = canvas
            out.append(c)
        if send:
            b = self.s.widget("room-send")
            b.trigger_value = True
            out.append(b)
        return out

    async def start(self) -> None:
        await self.s.connect()
        await self.s.run([])
        self.fragment = self.s.where["room-canvas-0"]  # the part that draws and sends
        # The name typed in, as a browser sends it: a run of the whole page (the name box
        # is outside the drawing part), which the drawing part's runs then carry unchanged.
        nick = self.s.widget("room-nick")
        nick.string_value = self.nick
        await self.s.run([nick])

    async def follow(self, until: float) -> None:
        """As the browser reruns each part of the page that asked to be rerun every so
        often (the room's line, every room_phone.FOLLOW_S seconds)."""
        every = {f: t for f, t in self.s.every.items() if f != self.fragment and t > 0}
        due = {f: time.monotonic() + t for f, t in every.items()}
        while due and time.monotonic() < until:
            f = min(due, key=due.get)
            await asyncio.sleep(max(0.0, due[f] - time.monotonic()))
            await self.s.run([], f, auto=True)
            due[f] = time.monotonic() + every[f]

    async def draw_and_send(self, strokes, label: int) -> None:
        canvas = canvas_value(strokes)
        t0 = time.monotonic()
        els = await self.s.run(self._states(canvas, None, False), self.fragment)
        found = dict(ANSWER.findall(streamed_html(els)))
        if set(found) != {"mlp", "cnn"}:
            self.errors.append("no answer")
            return
        self.answer_ms.append((time.monotonic() - t0) * 1000)
        t1 = time.monotonic()
        els = await self.s.run(self._states(canvas, label, True), self.fragment)
        body = streamed_html(els)
        if "to the wall" in body:
            self.sends.append(t1)
            self.gen += 1
        else:
            self.errors.append(re.sub(r"<[^>]+>", "", body)[:120] or "no confirmation")

    async def loop(self, until: float, period: float, follow: bool = True) -> None:
        following = asyncio.create_task(self.follow(until if follow else 0.0))
        try:
            await self.draw_loop(until, period)
        finally:
            following.cancel()

    async def draw_loop(self, until: float, period: float) -> None:
        await asyncio.sleep(random.uniform(0, period))
        k = 0
        while time.monotonic() < until:
            t = time.monotonic()
            strokes, label = self.digits[k % len(self.digits)]
            await self.draw_and_send(strokes, label)
            k += 1
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t)))


class Wall:
    def __init__(self, url: str, code: str) -> None:
        self.s = Session(url, "wall", f"room={code}")
        self.first_seen: dict[int, float] = {}
        self.tiles: list[int] = []
        self.stats = ""

    async def start(self) -> None:
        await self.s.connect()
        self.record(await self.s.run([]))
        self.fragment = next(iter(self.s.fragments))

    def record(self, els: list) -> None:
        now = time.monotonic()
        body = streamed_html(els)
        tiles = [int(i) for i in TILE.findall(body)]
        for i in tiles:
            self.first_seen.setdefault(i, now)
        if tiles:
            self.tiles = tiles  # as the wall shows them now, newest first
        if m := re.search(r'data-drawings="(\d+)"', body):
            self.stats = m.group(1)

    async def loop(self, every: float = 1.0) -> None:
        # As the browser does for st.fragment(run_every=1): one auto-rerun a second,
        # until 3 s after the last phone has sent.
        self.stop_at = float("inf")
        while time.monotonic() < self.stop_at:
            t = time.monotonic()
            self.record(await self.s.run([], self.fragment, auto=True))
            await asyncio.sleep(max(0.0, every - (time.monotonic() - t)))


def proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024
    return cpu, rss, hwm


def server_pid(port: int) -> int:
    """The streamlit process listening on this port (a child of the bench)."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
            return int(d.name)
    raise RuntimeError("server process not found")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))] if v else float("nan")


def browser_phones(url: str, code: str, k: int, period: float, digits: list, out: dict) -> None:
    """K phones in headless Chromium (touch, 390x844): pen-up to both answers on screen."""
    from browser_utils import launch_chromium
    from room_phones import ANSWERS
    from room_phones import Phone as BrowserPhone

    with launch_chromium() as browser:
        phones = [BrowserPhone(browser, url, code, nickname=f"browser-{j}") for j in range(k)]
        out["ready"].set()
        out["go"].wait()
        until = out["until"]
        j = 0
        while time.monotonic() < until:
            t = time.monotonic()
            for p in phones:
                strokes, label = digits[j % len(digits)]
                j += 1
                up = p.draw(strokes)
                p.page.wait_for_function(ANSWERS, polling="raf", timeout=30_000)
                out["answer_ms"].append((time.monotonic() - up) * 1000)
                out["sends"].append((p.send(label), f"browser-{phones.index(p)}"))
            time.sleep(max(0.0, period - (time.monotonic() - t)))
        for p in phones:
            p.close()


async def one_run(
    url: str,
    port: int,
    n: int,
    seconds: float,
    period: float,
    digits: list,
    browsers: int = 0,
    singles: list | None = None,
    via_proxy: bool = False,
    follow: bool = True,
) -> dict:
    import threading

    store = room_store.open_store()
    code = store.create_room(f"bench {n} phones").code
    real = {"answer_ms": [], "sends": [], "ready": threading.Event(), "go": threading.Event()}
    if browsers:
        # Browsers join first (they take seconds to start); all start sending together.
        thread = threading.Thread(
            target=browser_phones, daemon=True, args=(url, code, browsers, period, singles, real)
        )
        thread.start()
        await asyncio.to_thread(real["ready"].wait, 180)
    wall = Wall(url, code)
    phones = [Phone(url, code, i, digits[i % 7 :: 7]) for i in range(n)]
    for s in ([wall.s] + [p.s for p in phones]) if via_proxy else []:
        s.headers = (await asyncio.to_thread(through.first_visit, url, s.source))[0]
    await wall.start()
    for p in phones:  # join one after another, as a room fills up
        await p.start()
    behind = sorted({s.server for s in [wall.s] + [p.s for p in phones]}) if via_proxy else []
    pids = [server_pid(through.server_port(b)) for b in behind] if via_proxy else [server_pid(port)]
    db_pid = through.postgres_pid(room_store.store_url())
    cpu0 = sum(proc_stat(pid)[0] for pid in pids)
    db0, bench0 = db_pid and through.tree_cpu(db_pid), time.process_time()
    until = time.monotonic() + seconds
    real["until"] = until
    real["go"].set()
    wall_task = asyncio.create_task(wall.loop())
    await asyncio.gather(*(p.loop(until, period, follow) for p in phones))
    if browsers:
        await asyncio.to_thread(thread.join)
    wall.stop_at = time.monotonic() + 3.0
    await wall_task
    ends = [proc_stat(pid) for pid in pids]
    cpu1, rss, hwm = sum(e[0] for e in ends), max(e[1] for e in ends), max(e[2] for e in ends)
    db_cpu = db_pid and through.tree_cpu(db_pid) - db0
    bench_cpu = time.process_time() - bench0
    sent = sum(len(p.sends) for p in phones)
    stored = store.drawings(code, include_hidden=True)
    # Match each phone's k-th send with its k-th stored drawing (by nickname, in id order).
    to_wall = []
    for p in phones:
        mine = [d.id for d in stored if d.nickname == p.nick]
        for t_send, did in zip(p.sends, mine):
            if did in wall.first_seen:
                to_wall.append((wall.first_seen[did] - t_send) * 1000)
    for t_send, nick in real["sends"]:
        mine = [d.id for d in stored if d.nickname == nick]
        k = [x for x in real["sends"] if x[1] == nick].index((t_send, nick))
        if k < len(mine) and mine[k] in wall.first_seen:
            to_wall.append((wall.first_seen[mine[k]] - t_send) * 1000)
    sent += len(real["sends"])
    answers = [ms for p in phones for ms in p.answer_ms]
    for p in phones:
        await p.s.close()
    await wall.s.close()
    store.close()
    errors = [e for p in phones for e in p.errors]
    return {
        "phones": n,
        "sent": sent,
        "stored": len(stored),
        "shown": len(wall.first_seen),
        "answer_median_ms": statistics.median(answers) if answers else float("nan"),
        "answer_p95_ms": pct(answers, 0.95),
        "wall_median_ms": statistics.median(to_wall) if to_wall else float("nan"),
        "wall_p95_ms": pct(to_wall, 0.95),
        "server_rss_mb": rss / 2**20,
        "server_peak_mb": hwm / 2**20,
        "cpu_ms_per_drawing": (cpu1 - cpu0) * 1000 / max(1, sent),
        "wall_count": wall.stats,
        "browser_median_ms": statistics.median(real["answer_ms"])
        if real["answer_ms"]
        else float("nan"),
        "browser_p95_ms": pct(real["answer_ms"], 0.95),
        "browser_n": len(real["answer_ms"]),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "servers": {b: sum(p.s.server == b for p in phones) for b in behind},
        "server_rss_each_mb": [e[1] / 2**20 for e in ends],
        "db_cpu_ms_per_drawing": db_cpu * 1000 / max(1, sent) if db_pid else float("nan"),
        "bench_cpu_s": bench_cpu,
        "seconds": seconds,
    }


async def per_run(url: str, port: int, digits: list, rounds: int = 3) -> dict[str, float]:
    """Server CPU ms of one drawing (its two runs), one room-line run and one wall look,
    each measured alone (median of `rounds`)."""
    pid = server_pid(port)
    store = room_store.open_store()
    code = store.create_room("per run").code
    phones = [Phone(url, code, i, digits) for i in range(6)]
    for p in phones:
        await p.start()
    line = next(f for f in phones[0].s.every if f != phones[0].fragment)
    last = [0.0] * len(phones)

    async def drawing(k: int) -> None:  # phones in turn, each within the rate limit
        j = k % len(phones)
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - last[j])))
        await phones[j].draw_and_send(*digits[k % len(digits)])
        last[j] = time.monotonic()

    async def priced(run, n: int) -> float:
        c0 = proc_stat(pid)[0]
        for k in range(n):
            await run(k)
        return (proc_stat(pid)[0] - c0) * 1000 / n

    out: dict[str, list[float]] = {"drawing": [], "room line": [], "wall look": []}
    for _ in range(rounds):
        out["drawing"].append(await priced(drawing, 120))
        out["room line"].append(await priced(lambda k: phones[0].s.run([], line, auto=True), 300))
    wall = Wall(url, code)
    await wall.start()
    for _ in range(rounds):
        out["wall look"].append(
            await priced(lambda k: wall.s.run([], wall.fragment, auto=True), 100)
        )
    if sum(len(p.errors) for p in phones) > len(phones):
        raise RuntimeError(f"drawings refused: {[e for p in phones for e in p.errors][:3]}")
    for p in phones:
        await p.s.close()
    await wall.s.close()
    store.close()
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phones", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--period", type=float, default=3.0, help="seconds between a phone's sends")
    ap.add_argument(
        "--browsers",
        type=int,
        default=0,
        help="also this many phones in headless Chromium (touch, 390x844), timed "
        "from pen-up to both answers on screen",
    )
    ap.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="phones that never rerun their room line (a browser does, every 2 s): to see "
        "what following the room costs the server",
    )
    ap.add_argument(
        "--through",
        metavar="URL",
        help="servers already running behind this proxy (deploy/hall.sh) instead of one "
        "started here; the room goes in $MNIST_ROOM_DB",
    )
    ap.add_argument(
        "--per-run",
        action="store_true",
        help="price a drawing, a room-line run and a wall look one at a time instead",
    )
    a = ap.parse_args()
    if a.through and room_store.STORE_ENV not in os.environ:
        sys.exit(f"--through needs {room_store.STORE_ENV}: source the hall's hall.env first.")
    test = data.load_split("test")
    digits = []
    for i in range(70):
        s = synth.digit_strokes(test.images[i].numpy())
        digits.append(
            (synth.place_strokes(s, 0.6 * CANVAS, 0.2 * CANVAS, 0.2 * CANVAS), int(test.labels[i]))
        )
    singles = []  # one-stroke digits: the canvas sends them whole
    for i in range(2000):
        if len(s := synth.digit_strokes(test.images[i].numpy())) == 1 and len(singles) < 40:
            singles.append((s, int(test.labels[i])))
    if a.per_run:
        home = tempfile.mkdtemp(prefix="bench-room-")
        os.environ["MNIST_APP_HOME"] = home
        with streamlit_server(env={"MNIST_APP_HOME": home}) as url:
            costs = asyncio.run(per_run(url, int(url.rsplit(":", 1)[1]), digits))
        print("server CPU, one at a time (median of 3 rounds):")
        for what, ms in costs.items():
            print(f"  {what:<10} {ms:6.2f} ms")
        return
    print(
        f"{'phones':>6} {'sent':>5} {'stored':>6} {'shown':>5} {'counted':>7} "
        f"{'answer med/p95 ms':>18} {'to wall med/p95 ms':>19} {'RSS/peak MB':>12} "
        f"{'CPU ms/drawing':>14} errors"
    )
    for n in a.phones:
        if a.through:
            r = asyncio.run(
                one_run(
                    a.through,
                    0,
                    n,
                    a.seconds,
                    a.period,
                    digits,
                    a.browsers,
                    singles,
                    True,
                    a.follow,
                )
            )
        else:
            home = tempfile.mkdtemp(prefix="bench-room-")
            os.environ["MNIST_APP_HOME"] = home
            with streamlit_server(env={"MNIST_APP_HOME": home}) as url:
                port = int(url.rsplit(":", 1)[1])
                r = asyncio.run(
                    one_run(
                        url,
                        port,
                        n,
                        a.seconds,
                        a.period,
                        digits,
                        a.browsers,
                        singles,
                        False,
                        a.follow,
                    )
                )
        print(
            f"{r['phones']:>6} {r['sent']:>5} {r['stored']:>6} {r['shown']:>5} "
            f"{r['wall_count']:>7} "
            f"{r['answer_median_ms']:>8.0f} / {r['answer_p95_ms']:<7.0f} "
            f"{r['wall_median_ms']:>8.0f} / {r['wall_p95_ms']:<8.0f} "
            f"{r['server_rss_mb']:>5.0f}/{r['server_peak_mb']:<5.0f} "
            f"{r['cpu_ms_per_drawing']:>14.1f} {r['errors']} {r['first_error']}",
            flush=True,
        )
        if a.browsers:
            print(
                f"       browser phones: pen-up to both answers on screen, median "
                f"{r['browser_median_ms']:.0f} ms, p95 {r['browser_p95_ms']:.0f} ms "
                f"({r['browser_n']} drawings)",
                flush=True,
            )
        if a.through:
            print(
                "       behind the proxy: "
                + ", ".join(
                    f"{b} {k} phones, RSS {m:.0f} MB"
                    for (b, k), m in zip(r["servers"].items(), r["server_rss_each_mb"])
                )
                + f"; database CPU {r['db_cpu_ms_per_drawing']:.1f} ms/drawing; this bench's"
                f" own CPU {r['bench_cpu_s'] / r['seconds']:.0%} of a core",
                flush=True,
            )


if __name__ == "__main__":
    main()
