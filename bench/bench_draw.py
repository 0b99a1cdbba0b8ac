"""Latency of reading one drawing: in-process, and in a real browser.

    python bench/bench_draw.py                # both parts
    python bench/bench_draw.py --no-browser   # in-process only

In-process: preprocess (canvas strokes -> 28x28) + both shipped networks, for
skeleton-stroke drawings of real MNIST test digits; median and p95 in ms; and
the on-demand "what each network looks at" maps for the same drawings.
Browser: `streamlit run app.py` in headless Chromium; the mouse draws a digit,
and the time from mouse-up until both networks' answers have updated is
measured, over --strokes drawings (the canvas itself waits about 200 ms after
mouse-up before it sends the drawing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import checkpoint, data, saliency, synth  # noqa: E402
from mnist_models import preprocess as pp  # noqa: E402
from mnist_models.predict import predict  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def in_process(n: int) -> dict[str, list[float]]:
    test = data.load_split("test")
    models = {a: checkpoint.load(ROOT / "weights" / f"{a}.pt")[0] for a in ("mlp", "cnn")}
    rng = np.random.default_rng(0)
    drawings = []
    for i in rng.choice(len(test), n, replace=False):
        strokes = synth.place_strokes(synth.digit_strokes(test.images[i].numpy()),
                                      float(rng.uniform(80, 300)), 10, 10)
        fabric = {"objects": [{"type": "Path", "path": [["M", *s[0]]] + [["L", *p] for p in s[1:]]}
                              for s in strokes]}
        drawings.append(fabric)
    times: dict[str, list[float]] = {"preprocess": [], "mlp": [], "cnn": [], "total": [],
                                     "saliency": []}
    for k, fabric in enumerate(drawings):
        t0 = time.perf_counter()
        pre = pp.from_strokes(pp.strokes_from_fabric(fabric))
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


def in_browser(n: int) -> list[float]:
    """Mouse-up to both answers shown, for n single-stroke digits drawn on a cleared canvas."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_utils import launch_chromium, streamlit_server

    test = data.load_split("test")
    shapes = []
    for i in range(len(test)):
        strokes = synth.digit_strokes(test.images[i].numpy())
        if len(strokes) == 1:
            shapes.append(synth.place_strokes(strokes, 220, 60, 60))
        if len(shapes) == n:
            break
    answers = ("() => !!(document.getElementById('answer-mlp') &&"
               " document.getElementById('answer-cnn'))")
    out = []
    with streamlit_server() as url, launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        canvas = page.locator("canvas").first
        canvas.wait_for(timeout=60_000)
        for stroke in shapes:
            page.get_by_role("button", name="Reset canvas & history").click()
            page.get_by_text("Nothing to read yet").wait_for(timeout=30_000)
            page.wait_for_timeout(300)
            box = canvas.bounding_box()
            (pts,) = stroke
            page.mouse.move(box["x"] + float(pts[0][0]), box["y"] + float(pts[0][1]))
            page.mouse.down()
            for x, y in pts[1:]:
                page.mouse.move(box["x"] + float(x), box["y"] + float(y))
            t0 = time.perf_counter()
            page.mouse.up()
            page.wait_for_function(answers, polling=10, timeout=30_000)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--drawings", type=int, default=200, help="in-process drawings")
    ap.add_argument("--strokes", type=int, default=20, help="browser drawings")
    ap.add_argument("--no-browser", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t = in_process(a.drawings)
    print(f"In-process, {len(t['total'])} drawings (torch threads: 1):")
    print("| step | median ms | p95 ms |\n|---|---|---|")
    names = {"total": "total (preprocess + both networks)",
             "saliency": "saliency maps of both + feature maps (on demand)"}
    for k in ("preprocess", "mlp", "cnn", "total", "saliency"):
        print(f"| {names.get(k, k)} | {statistics.median(t[k]):.2f} | {pct(t[k], 95):.2f} |")
    if not a.no_browser:
        b = in_browser(a.strokes)
        print(f"\nBrowser, mouse-up to both answers updated, {len(b)} drawings:")
        print(f"median {statistics.median(b):.0f} ms, p95 {pct(b, 95):.0f} ms")


if __name__ == "__main__":
    main()
