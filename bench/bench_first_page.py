"""The first page after a cold start: how long until the canvas draws, and the first answer.

    python bench/bench_first_page.py              # 5 cold starts (a fresh server each)
    python bench/bench_first_page.py --runs 3
    python bench/bench_first_page.py --root OTHER_CHECKOUT   # another checkout's app

Each run starts `streamlit run app.py` afresh (a private MNIST_APP_HOME), waits until
the server answers its health check, then opens the drawing page in a new headless
Chromium context and times, from `goto`:

- canvas: until the canvas is drawable (its drawing layer is on the page, under the
  page's toolbar) - what a visitor waits for before the first stroke;
- answer: until both answers are shown for a 1 (one stroke) drawn the moment the
  canvas is drawable: torch's import and the models' loading, if not done yet;
- stroke->answer: the same, from the end of the stroke.

One discarded run first warms the machine's file cache ("a warm machine": the
Python packages and weights are read from memory, as on a laptop that has run the
app before). Medians are printed, with every run's figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_utils import draw, launch_chromium, streamlit_process  # noqa: E402

DRAWABLE = "canvas.upper-canvas"  # Fabric.js's drawing layer, inside the component


def one_run(browser, root: Path = ROOT) -> dict[str, float]:
    """A fresh server, a fresh browser context: the three times, in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-first-page-") as home:
        t_server = time.perf_counter()
        with streamlit_process(env={"MNIST_APP_HOME": home}, root=root) as (url, _):
            up = time.perf_counter() - t_server
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(url)
            page.locator(DRAWABLE).first.wait_for(timeout=120_000)
            page.get_by_role("button", name="Clear the canvas").wait_for(timeout=120_000)
            canvas = time.perf_counter() - t0
            box = page.locator(DRAWABLE).first.bounding_box()
            w, h = box["width"], box["height"]
            draw(page, box, [[(w * 0.5, h * 0.15), (w * 0.48, h * 0.85)]], steps=8)  # a 1
            t_stroke = time.perf_counter()
            page.locator("#answer-cnn").wait_for(timeout=120_000)
            page.locator("#answer-mlp").wait_for(timeout=120_000)
            now = time.perf_counter()
            ctx.close()
    return {"server": up, "canvas": canvas, "answer": now - t0, "stroke->answer": now - t_stroke}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="cold starts to time (after one warm-up)")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app to run")
    a = p.parse_args()
    runs = []
    with launch_chromium() as browser:
        for i in range(a.runs + 1):
            r = one_run(browser, a.root.resolve())
            tag = "warm-up (not counted)" if i == 0 else f"run {i}"
            print(f"{tag:>22}: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()), flush=True)
            if i:
                runs.append(r)
    load = os.getloadavg()[0]
    print(f"\n{a.root.resolve()}: medians of {len(runs)} cold starts (load average {load:.1f}):")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"  {key:<15} {statistics.median(values):6.2f}   "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )


if __name__ == "__main__":
    main()
