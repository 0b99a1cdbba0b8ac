"""Latency of reading one drawing: in-process, and in a real browser; server CPU per drawing.

    python bench/bench_draw.py                # in-process and browser latency
    python bench/bench_draw.py --no-browser   # in-process only
    python bench/bench_draw.py --while-training   # browser latency idle, then while a job trains
    python bench/bench_draw.py --replay --sessions 5 --rounds 12 [--root OTHER_CHECKOUT]
    python bench/bench_draw.py --replay --sessions 2 --soak 600   # memory over 10 minutes

In-process: preprocess (canvas strokes -> 28x28) + both shipped networks, for
skeleton-stroke drawings of real MNIST test digits; median and p95 in ms; and
the on-demand "what each network looks at" maps for the same drawings.
Browser: `streamlit run app.py` in headless Chromium; the mouse draws a digit,
and the time from mouse-up until both networks' answers have updated is
measured, over --strokes drawings (the canvas itself waits about 200 ms after
mouse-up before it sends the drawing).
Replay: --sessions real sessions (headless Chromium pages, each its own Streamlit
session) draw real MNIST digits with the mouse in turn, all at once, then clear
with the canvas's own reset, for --rounds rounds (or for --soak seconds). The
server process's CPU seconds (utime + stime in /proc/<pid>/stat) are read
before and after, and divided by the number of drawings; each drawing's clear
(a second, cheaper rerun) is included. --root runs the app of another checkout
(e.g. an older commit, via `git worktree add`), for before/after figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.nets import checkpoint
from mnist_models.reading import saliency
from mnist_models.reading.canvas import strokes_from_fabric
from mnist_models.reading.pen import from_strokes
from mnist_models.reading.predict import predict


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def in_process(n: int) -> dict[str, list[float]]:
    test = data.load_split("test")
    models = {a: checkpoint.load(ROOT / "weights" / f"{a}.pt")[0] for a in ("mlp", "cnn")}
    rng = np.random.default_rng(0)
    drawings = []
    for i in rng.choice(len(test), n, replace=False):
        strokes = synth.place_strokes(
            synth.digit_strokes(test.images[i].numpy()), float(rng.uniform(80, 300)), 10, 10
        )
        fabric = {
            "objects": [
                {"type": "Path", "path": [["M", *s[0]]] + [["L", *p] for p in s[1:]]}
                for s in strokes
            ]
        }
        drawings.append(fabric)
    times: dict[str, list[float]] = {
        "preprocess": [],
        "mlp": [],
        "cnn": [],
        "total": [],
        "saliency": [],
    }
    for k, fabric in enumerate(drawings):
        t0 = time.perf_counter()
        pre = from_strokes(strokes_from_fabric(fabric))
        t1 = time.perf_counter()
        x = pre.tensor()
        pm = predict(models["mlp"], x)
        pc = predict(models["cnn"], x)
        t2 = time.perf_counter()
        # "What each network looks at" (on demand): both occlusion maps + feature maps.
        saliency.occlusion(models["mlp"], x, pm.digit)
        saliency.occlusion(models["cnn"], x, pc.digit)
        saliency.feature_maps(models["cnn"], x)
        t3 = time.perf_counter()
        if k < 5:  # warm-up
            continue
        times["saliency"].append((t3 - t2) * 1000)
        times["preprocess"].append((t1 - t0) * 1000)
        times["mlp"].append(pm.ms)
        times["cnn"].append(pc.ms)
        times["total"].append((t2 - t0) * 1000)
    return times


# Both answers are on the page (the browser tests' and benchmarks' signal).
ANSWERS_SHOWN = (
    "() => !!(document.getElementById('answer-mlp') && document.getElementById('answer-cnn'))"
)


def single_stroke_digits(n: int) -> list[np.ndarray]:
    """The first n MNIST test digits drawable in one stroke, as (k, 2) canvas polylines."""
    test = data.load_split("test")
    shapes = []
    for i in range(len(test)):
        strokes = synth.digit_strokes(test.images[i].numpy())
        if len(strokes) == 1:
            shapes.append(synth.place_strokes(strokes, 220, 60, 60)[0])
        if len(shapes) == n:
            break
    return shapes


def in_browser(n: int, root: Path = ROOT, while_training: bool = False) -> dict[str, list[float]]:
    """Mouse-up to both answers shown, for n single-stroke digits drawn on a cleared canvas:
    {"idle": [ms, ...]}, plus {"training": [...]} for as many drawings made while a
    training job runs (started as the Retrain page starts one: a spawned child at lower
    priority using every core)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_utils import launch_chromium, streamlit_process

    shapes = single_stroke_digits(n)
    answers = ANSWERS_SHOWN
    out: dict[str, list[float]] = {"idle": []}
    with streamlit_process(root=root) as (url, _), launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        canvas = page.locator("canvas").first
        canvas.wait_for(timeout=60_000)

        def measure(times: list[float]) -> None:
            for pts in shapes:
                page.get_by_role("button", name="Clear the canvas").click()
                page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
                page.wait_for_timeout(300)
                box = canvas.bounding_box()
                page.mouse.move(box["x"] + float(pts[0][0]), box["y"] + float(pts[0][1]))
                page.mouse.down()
                for x, y in pts[1:]:
                    page.mouse.move(box["x"] + float(x), box["y"] + float(y))
                t0 = time.perf_counter()
                page.mouse.up()
                page.wait_for_function(answers, polling=10, timeout=30_000)
                times.append((time.perf_counter() - t0) * 1000)

        measure(out["idle"])
        if while_training:
            import tempfile

            from mnist_models.training import jobs
            from mnist_models.training.train import TrainConfig

            with tempfile.TemporaryDirectory() as home:
                os.environ["MNIST_APP_HOME"] = home  # the job's record and nothing saved
                jobs.start(TrainConfig(model="cnn", subset=60_000, epochs=50))
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    run = jobs.status().current_run
                    if run is not None and run.batches_done > 20:
                        break
                    time.sleep(0.2)
                out["training"] = []
                measure(out["training"])
                jobs.cancel()
                jobs.wait(timeout=60)
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def replay(sessions: int, rounds: int, soak: float, root: Path) -> dict[str, float]:
    """Drawings from `sessions` real browser sessions at once; server CPU s per drawing."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tempfile

    from browser_utils import launch_chromium, streamlit_process

    shapes = single_stroke_digits(50)
    answers = ANSWERS_SHOWN
    with (
        tempfile.TemporaryDirectory() as home,
        streamlit_process(env={"MNIST_APP_HOME": home}, root=root) as (url, proc),
        launch_chromium() as browser,
    ):
        pages = []
        for _ in range(sessions):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.locator("canvas").first.wait_for(timeout=120_000)
            page.get_by_text("Nothing to read yet").wait_for(timeout=60_000)
            pages.append(page)
        # One drawing per session first: model loading and first-run costs out of the way.
        drawn, latencies = 0, []

        def one_round(k: int) -> None:
            nonlocal drawn
            ups = []
            for j, page in enumerate(pages):
                pts = shapes[(k * sessions + j) % len(shapes)]
                box = page.locator("canvas").first.bounding_box()
                page.mouse.move(box["x"] + float(pts[0][0]), box["y"] + float(pts[0][1]))
                page.mouse.down()
                for x, y in pts[1::2]:
                    page.mouse.move(box["x"] + float(x), box["y"] + float(y))
                page.mouse.up()
                ups.append(time.perf_counter())
            for page, t0 in zip(pages, ups):
                page.wait_for_function(answers, polling=20, timeout=60_000)
                latencies.append((time.perf_counter() - t0) * 1000)
            for page in pages:
                page.get_by_role("button", name="Clear the canvas").click()
            for page in pages:
                page.get_by_text("Nothing to read yet").wait_for(timeout=60_000)
            drawn += len(pages)

        one_round(0)
        time.sleep(1.0)
        drawn, latencies = 0, []
        cpu0, rss0, t0 = proc_cpu_seconds(proc.pid), proc_rss_mb(proc.pid), time.monotonic()
        k, rss_samples = 1, []
        while (k <= rounds) if not soak else (time.monotonic() - t0 < soak):
            one_round(k)
            k += 1
            if soak and k % 20 == 0:
                rss_samples.append((time.monotonic() - t0, proc_rss_mb(proc.pid)))
        wall = time.monotonic() - t0
        cpu = proc_cpu_seconds(proc.pid) - cpu0
        rss1 = proc_rss_mb(proc.pid)
    for t, mb in rss_samples:
        print(f"  after {t:5.0f} s: server memory {mb:.0f} MB")
    return {
        "drawings": drawn,
        "cpu_ms": cpu / drawn * 1000,
        "wall": wall,
        "share": cpu / wall,
        "rss0": rss0,
        "rss1": rss1,
        "median": statistics.median(latencies),
        "p95": pct(latencies, 95),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--drawings", type=int, default=200, help="in-process drawings")
    ap.add_argument("--strokes", type=int, default=20, help="browser drawings")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument(
        "--replay",
        action="store_true",
        help="server CPU per drawing from real sessions drawing at once",
    )
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--soak", type=float, default=0.0, help="replay for this many seconds")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app to run")
    ap.add_argument(
        "--while-training",
        action="store_true",
        help="browser latency again while a training job runs (ConvNet, 60,000)",
    )
    a = ap.parse_args()
    if a.replay:
        r = replay(a.sessions, a.rounds, a.soak, a.root.resolve())
        print(
            f"Replay ({a.root.resolve()}): {a.sessions} sessions, {r['drawings']} drawings "
            f"in {r['wall']:.0f} s"
        )
        print(
            f"server CPU per drawing (with its clear): {r['cpu_ms']:.1f} ms; "
            f"server at {r['share']:.0%} of one core"
        )
        print(f"mouse-up to both answers: median {r['median']:.0f} ms, p95 {r['p95']:.0f} ms")
        print(f"server memory: {r['rss0']:.0f} MB before, {r['rss1']:.0f} MB after")
        return
    torch.set_num_threads(1)
    t = in_process(a.drawings)
    print(f"In-process, {len(t['total'])} drawings (torch threads: 1):")
    print("| step | median ms | p95 ms |\n|---|---|---|")
    names = {
        "total": "total (preprocess + both networks)",
        "saliency": "saliency maps of both + feature maps (on demand)",
    }
    for k in ("preprocess", "mlp", "cnn", "total", "saliency"):
        print(f"| {names.get(k, k)} | {statistics.median(t[k]):.2f} | {pct(t[k], 95):.2f} |")
    if not a.no_browser:
        b = in_browser(a.strokes, a.root.resolve(), a.while_training)
        for phase, times in b.items():
            print(
                f"\nBrowser, mouse-up to both answers updated, {len(times)} drawings, "
                f"{phase}: median {statistics.median(times):.0f} ms, "
                f"p95 {pct(times, 95):.0f} ms"
            )
        if "training" in b:
            print(
                f"while training / idle: median "
                f"{statistics.median(b['training']) / statistics.median(b['idle']):.2f}x, "
                f"p95 {pct(b['training'], 95) / pct(b['idle'], 95):.2f}x"
            )


if __name__ == "__main__":
    main()
