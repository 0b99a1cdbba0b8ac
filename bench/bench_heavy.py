"""What hostile visitors of the heavy pages cost another visitor's drawing (a benchmark).

One client draws on the drawing page over the websocket (a real Streamlit session,
as bench/bench_room.py drives them: the canvas's widget value, then the answers
back) while --hostile clients rerun the Experiments page (or --page explorer) as
fast as the server answers them, each in its own session. Reported: the drawing
latency (canvas value sent to both answers back) alone and with the hostile
clients, median and p95, their ratio, and how many runs the hostile clients got;
then what one run of the page costs the server (its CPU time, all threads, over
--cpu-runs runs of one client, and the elements a run sends), the least noisy figure
on a loaded machine.

    python bench/bench_heavy.py                         # this checkout
    python bench/bench_heavy.py --root /tmp/before      # another checkout (before/after)
    python bench/bench_heavy.py --hostile 4 --draws 30 --page explorer

--root runs the app of another checkout (e.g. `git archive COMMIT | tar -x -C DIR`),
so both are measured in one run, in turns (--rounds), on the same loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_room import ANSWER, Session, pct  # noqa: E402
from browser_utils import streamlit_process  # noqa: E402
from helpers import canvas_value, streamed_html  # noqa: E402

from mnist_models import data  # noqa: E402
from mnist_models.drawings import synth  # noqa: E402


class Drawer:
    """A visitor drawing on the drawing page: two digits in turn, each a rerun of the
    page's fragment with the canvas's value."""

    def __init__(self, url: str, digits: list) -> None:
        self.s = Session(url, "", "")
        self.canvases = [canvas_value(strokes) for strokes in digits]
        self.k = 0

    async def start(self) -> None:
        await self.s.connect()
        await self.s.run([])
        self.fragment = next(iter(self.s.fragments), "")

    async def draw(self) -> float | None:
        c = self.s.widget("canvas")
        c.json_value = self.canvases[self.k % len(self.canvases)]
        self.k += 1
        t0 = time.monotonic()
        els = await self.s.run([c], self.fragment)
        found = dict(ANSWER.findall(streamed_html(els)))
        return (time.monotonic() - t0) * 1000 if {"mlp", "cnn"} <= set(found) else None


class Hostile:
    """A client rerunning a heavy page as fast as the server answers."""

    def __init__(self, url: str, page: str) -> None:
        self.s = Session(url, page, "")
        self.title = "Experiments" if page == "experiments" else "Test-set explorer"
        self.runs = 0  # runs of that page (not another)

    async def loop(self, stop: asyncio.Event) -> None:
        await self.s.connect()
        while not stop.is_set():
            # By name each time: the hash a new session reports is the main page's.
            self.s.page_hash = ""
            els = await self.s.run([])
            if any(getattr(sub, "body", "") == self.title for _, sub in els):
                self.runs += 1


async def measure(url: str, hostile: int, page: str, draws: int, digits: list) -> dict:
    drawer = Drawer(url, digits)
    await drawer.start()
    for _ in range(3):  # warm: models loaded
        await drawer.draw()
    if hostile:  # the page once, so that what it computes once per version is not timed
        first = Hostile(url, page)
        await first.s.connect()
        await first.s.run([])
        await first.s.close()
    stop = asyncio.Event()
    clients = [Hostile(url, page) for _ in range(hostile)]
    tasks = [asyncio.create_task(c.loop(stop)) for c in clients]
    if clients:
        await asyncio.sleep(3.0)  # let them reach their pace
    for c in clients:
        c.runs = 0  # counted over the drawings only
    t0 = time.monotonic()
    ms, failed = [], 0
    for _ in range(draws):
        v = await drawer.draw()
        if v is None:
            failed += 1
        else:
            ms.append(v)
        await asyncio.sleep(0.2)  # a person draws a digit in a second or two
    seconds = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in clients:
        await c.s.close()
    await drawer.s.close()
    return {
        "median": statistics.median(ms) if ms else float("nan"),
        "p95": pct(ms, 0.95),
        "failed": failed,
        "hostile_runs_per_s": sum(c.runs for c in clients) / seconds,
    }


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, all threads) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cost_of_a_run(url: str, pid: int, page: str, runs: int) -> tuple[float, int]:
    """(server CPU ms per run of the page, elements a run sends), over `runs` runs of one
    client after two untimed ones (paced as any client: the waits cost no CPU)."""
    h = Hostile(url, page)
    await h.s.connect()
    for _ in range(2):
        h.s.page_hash = ""
        await h.s.run([])
    c0, elements = cpu_seconds(pid), 0
    for _ in range(runs):
        h.s.page_hash = ""
        elements = len(await h.s.run([]))
    ms = (cpu_seconds(pid) - c0) * 1000 / runs
    await h.s.close()
    return ms, elements


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hostile", type=int, default=4, help="clients rerunning the heavy page")
    ap.add_argument("--page", default="experiments", choices=["experiments", "explorer"])
    ap.add_argument("--draws", type=int, default=20, help="drawings per measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alone/with pairs per checkout")
    ap.add_argument("--root", type=Path, action="append", default=[], help="another checkout")
    ap.add_argument("--cpu-runs", type=int, default=12, help="runs timed for a run's CPU cost")
    a = ap.parse_args()
    test = data.load_split("test")
    digits = [
        synth.place_strokes(synth.digit_strokes(test.images[i].numpy()), 250, 100, 60)
        for i in range(2)
    ]
    roots = [ROOT, *a.root]
    results: dict[Path, dict[str, list]] = {r: {"alone": [], "with": [], "runs": []} for r in roots}
    costs: dict[Path, tuple[float, int]] = {}
    page = a.page  # the pages' URL paths
    for root in roots:
        with (
            tempfile.TemporaryDirectory() as home,
            streamlit_process(env={"MNIST_APP_HOME": home}, root=root) as (url, proc),
        ):
            for _ in range(a.rounds):  # in turns, so a busier minute hits both
                alone = asyncio.run(measure(url, 0, page, a.draws, digits))
                loaded = asyncio.run(measure(url, a.hostile, page, a.draws, digits))
                results[root]["alone"].append(alone)
                results[root]["with"].append(loaded)
            if a.cpu_runs:
                costs[root] = asyncio.run(cost_of_a_run(url, proc.pid, page, a.cpu_runs))
    print(
        f"drawing latency (ms), {a.draws} drawings x {a.rounds} rounds, "
        f"{a.hostile} clients rerunning {a.page}:"
    )
    for root, r in results.items():
        alone = statistics.median(x["median"] for x in r["alone"])
        loaded = statistics.median(x["median"] for x in r["with"])
        runs = statistics.median(x["hostile_runs_per_s"] for x in r["with"])
        p95a = statistics.median(x["p95"] for x in r["alone"])
        p95w = statistics.median(x["p95"] for x in r["with"])
        failed = sum(x["failed"] for x in r["alone"] + r["with"])
        print(
            f"  {root}: alone median {alone:.0f} (p95 {p95a:.0f}), with them median "
            f"{loaded:.0f} (p95 {p95w:.0f}), ratio {loaded / alone:.2f}; "
            f"their runs {runs:.1f}/s; failed drawings {failed}"
        )
        if root in costs:
            ms, elements = costs[root]
            print(f"    one run of {a.page}: {ms:.0f} ms of server CPU, {elements} elements sent")


if __name__ == "__main__":
    main()
