"""The Retrain page's presets in a real browser: click to result, step by step, against
the estimate shown, and the blog's experiment against the command line, in turns.

    python bench/bench_retrain.py                  # the blog's experiment: page, then CLI
    python bench/bench_retrain.py --rounds 4       # page and CLI in turns (ABBA), medians
    python bench/bench_retrain.py --epochs 5       # a quick check that everything works
    python bench/bench_retrain.py --presets        # every preset: the first estimate and the
                                                   # one at 25% against click to result

Page: `streamlit run app.py` (a fresh private MNIST_APP_HOME for every run, so each
estimate is a first one) in headless Chromium; the job trains in a child process of
the server (see mnist_models/training/worker.py). The preset is chosen, the estimate
read once the waiting training process has timed this machine, and the wall time taken
from the click on "Start training" until the page shows every network's test
accuracy; the steps in between come from the job's timings in <home>/jobs.json.
Command line: the same run as `python -m mnist_models train --model cnn --subset 1000
--first --epochs 100 --augment --json`, with the job's thread count and priority
(nice 10: on a busy machine the page's run yields to everything else, so the CLI does
too) and, by default, test accuracy only at the end (--eval-every 0): the page
measures the curves on 2,000 test images at most 25 times, the CLI on all 10,000
every epoch, which would make the CLI mostly evaluation. `training` is optimisation
time only; `wall` includes everything (for the CLI: Python start-up, imports, reading
MNIST, the final evaluation and the save; for the page: the same in the server, the
curves' evaluations and the refreshes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mnist_models.training import jobs
from mnist_models.training.worker import NICE

BLOG_PRESET = "The blog's experiment: ConvNet, first 1,000 images, 100 epochs, augmented"
# The Retrain page's presets (app_pages/retrain_form.py) and the networks each trains.
PRESETS = {
    BLOG_PRESET: ("cnn",),
    "MLP vs ConvNet on 1,000: the blog's experiment for both networks": ("mlp", "cnn"),
    "Quick look: both networks, 1,000 balanced images, 10 epochs": ("mlp", "cnn"),
    "ConvNet on all 60,000 images, 10 epochs": ("cnn",),
}
# Each preset's epochs and whether it augments (app_pages/retrain_form.py's table).
PRESET_RUNS = {
    BLOG_PRESET: (100, True),
    "MLP vs ConvNet on 1,000: the blog's experiment for both networks": (100, True),
    "Quick look: both networks, 1,000 balanced images, 10 epochs": (10, False),
    "ConvNet on all 60,000 images, 10 epochs": (10, False),
}
EPOCHS_LABEL = "Epochs (1 to 1,000)"


def wait_until(predicate, timeout: float = 30.0) -> None:
    """Poll until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there in time")
        time.sleep(0.2)


def seconds(text: str) -> float:
    """'about 3 min 20 s' (retrain_form.duration's forms) -> seconds."""
    total = 0.0
    for value, unit in re.findall(r"([0-9.]+) (h|min|s)\b", text):
        total += float(value) * {"h": 3600, "min": 60, "s": 1}[unit]
    return total


def on_the_page(preset: str, epochs: int | None = None) -> dict:
    """One preset from the Retrain page (a fresh server and app home): the estimate shown
    before Start, the updated one once a quarter is done, click to result, and where the
    time went (the job's steps as the server timed them, in <home>/jobs.json)."""
    from browser_utils import launch_chromium, streamlit_server  # type: ignore

    home = tempfile.mkdtemp(prefix="bench-retrain-")
    # Local single-user mode: this browser is the presenter, with no passcode to type.
    env = {"MNIST_APP_HOME": home, "MNIST_LOCAL_MODE": "1"}
    with streamlit_server("app.py", env=env) as url, launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        live = page.locator('[data-stale="false"]')  # skip a rerun's stale copies
        page.goto(url)
        page.get_by_role("link", name="Retrain").click()
        shown_estimate = live.get_by_text("Estimated duration on this machine")
        shown_estimate.wait_for(timeout=120_000)
        # The waiting training process times this machine first; the page is redrawn
        # when it is done, which would eat a click meanwhile.
        wait_until(lambda: "Measuring" not in shown_estimate.inner_text(), timeout=900)
        page.wait_for_timeout(1500)
        box = live.locator('[data-testid="stSelectbox"]', has_text="Preset")
        chosen = box.get_by_role("combobox")  # its value is the preset shown
        for _ in range(5):
            if chosen.input_value() == preset:
                break
            box.click()
            page.get_by_role("option", name=preset, exact=True).click()
            page.wait_for_timeout(1500)
        else:
            raise RuntimeError(f"the page did not take the preset {preset!r}")
        epochs_box = live.get_by_label(EPOCHS_LABEL)
        wanted = str(PRESET_RUNS[preset][0])
        wait_until(lambda: epochs_box.input_value() == wanted)
        page.wait_for_timeout(1500)
        if epochs is not None:
            epochs_box.fill(str(epochs))
            epochs_box.press("Enter")
            wait_until(lambda: epochs_box.input_value() == str(epochs))
            page.wait_for_timeout(1500)
        page.wait_for_timeout(1000)
        estimate = shown_estimate.inner_text()
        names = [{"mlp": "MLP", "cnn": "ConvNet"}[a] for a in PRESETS[preset]]
        metrics = [
            live.locator('[data-testid="stMetric"]', has_text=f"{n} test accuracy (10,000 images)")
            for n in names
        ]
        progress = live.locator('[data-testid="stProgress"]')
        t0 = time.perf_counter()
        clicked = time.time()
        live.get_by_role("button", name="Start training").click()
        at25 = None  # (seconds since the click, the estimate of the whole then)
        while at25 is None and not metrics[-1].count():
            try:
                text = progress.inner_text(timeout=1000)
            except Exception:  # not drawn yet, or being redrawn
                text = ""
            m = re.search(r"· (.+) elapsed · about (.+) left", text)
            if m:
                elapsed, left = seconds(m.group(1)), seconds(m.group(2))
                if elapsed + left > 0 and elapsed / (elapsed + left) >= 0.25:
                    now = time.perf_counter() - t0
                    at25 = (now, now + left)
            time.sleep(0.5)
        for metric in metrics:
            metric.wait_for(timeout=4 * 3600_000)
        wall = time.perf_counter() - t0
        shown = metrics[-1].locator('[data-testid="stMetricValue"]').inner_text()
    job = json.loads(Path(home, "jobs.json").read_text())
    trained = job["configs"][0]["epochs"], job["configs"][0]["augment"]
    if trained != (epochs or int(wanted), PRESET_RUNS[preset][1]):
        raise RuntimeError(f"the page trained {trained} (epochs, augment), not {preset}")
    metas = [json.loads(p.read_text()) for p in Path(home, "versions").glob("*.json")]
    metas.sort(key=lambda m: PRESETS[preset].index(m["architecture"]))
    if [m["architecture"] for m in metas] != list(PRESETS[preset]):
        raise RuntimeError(f"expected versions of {PRESETS[preset]} in {home}")
    speeds = json.loads(Path(home, "speeds.json").read_text())
    return {
        "speeds": speeds,
        "estimate": seconds(estimate.split("about", 1)[-1].split(". ")[0]),
        "estimate_text": estimate,
        "at25": at25,
        "wall": wall,
        "train": sum(m["train_seconds"] for m in metas),
        "monitor": sum(m["wall_seconds"] - m["train_seconds"] for m in metas),
        "accuracy": metas[-1]["test_accuracy"],
        "shown": shown,
        "threads": metas[-1]["train_config"]["threads"],
        "config": metas[-1]["train_config"],
        "steps": steps(job, clicked, wall, len(metas)),
    }


def steps(job: dict, clicked: float, wall: float, runs: int) -> list[tuple[str, float]]:
    """Click to result, step by step, from the job's timings (seconds)."""
    t = job["timings"]
    out = [("click to the job started (the page's run)", job["started"] - clicked)]
    out.append(("waiting for the training process", t["ready"]))
    begun = t["ready"]
    for i in range(runs):
        run, go, ev = f"run {i + 1}", t[f"run{i}_training"], t[f"run{i}_evaluating"]
        done = t[f"run{i}_done"]
        out.append((f"{run}: set-up to its first batch", go - begun))
        out.append((f"{run}: training and the curves", ev - go))
        out.append((f"{run}: final evaluation, weights back", done - ev))
        begun = done
    out.append(("saving the versions", t["saved"] - begun))
    page = wall - (job["started"] - clicked) - t["saved"]
    out.append(("saved to the result shown (the page)", page))
    return out


def on_the_command_line(epochs: int, threads: int, eval_every: int, nice: int) -> dict:
    """The same run with `python -m mnist_models train ... --json`, at the job's priority."""
    cmd = ["nice", "-n", str(nice)] * bool(nice) + [
        sys.executable,
        "-m",
        "mnist_models",
        "train",
        "--model",
        "cnn",
        "--subset",
        "1000",
        "--first",
        "--epochs",
        str(epochs),
        "--augment",
        "--json",
        "--threads",
        str(threads),
        "--eval-every",
        str(eval_every),
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wall": wall,
        "train": summary["train_seconds"],
        "job_wall": summary["wall_seconds"],
        "accuracy": summary["test_accuracy"],
        "command": " ".join(cmd).replace(sys.executable, "python"),
    }


def every_preset(only: list[str]) -> None:
    """The page's estimate against click-to-result, for each preset in turn."""
    print("Each preset from a fresh server: the first estimate (before Start), the one at a")
    print("quarter of the run, and click to result, with the load average at the end.")
    print(
        f"{'preset':<60}{'first':>8}{'at 25%':>8}{'actual':>9}{'actual/first':>13}"
        f"{'actual/25%':>11}{'training':>9}"
    )
    chosen = [p for o in only for p in PRESETS if o in p] if only else list(PRESETS)
    for preset in dict.fromkeys(chosen):
        r = on_the_page(preset)
        at25 = r["at25"][1] if r["at25"] else float("nan")
        print(
            f"{preset[:59]:<60}{r['estimate']:>7.0f}s{at25:>7.0f}s{r['wall']:>8.1f}s"
            f"{r['wall'] / max(r['estimate'], 1e-9):>13.2f}{r['wall'] / at25:>11.2f}"
            f"{r['train']:>8.1f}s   (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        show_steps(r)


def show_steps(page: dict) -> None:
    """Where the time went, and each run's pace against the calibration before it."""
    for name, sec in page["steps"]:
        print(f"    {name:<48}{sec:>8.2f} s")
    name = "(of which the curves' evaluations)"
    print(f"    {name:<48}{page['monitor']:>8.2f} s")
    for r in page["speeds"]["runs"]:
        for what in ("rate", "eval_rate"):
            if r.get(what) and r.get(f"{what}_calibrated"):
                print(
                    f"    {r['key']} {what}: {r[what]:.0f} images/s, calibrated "
                    f"{r[what + '_calibrated']:.0f} ({r[what] / r[what + '_calibrated']:.2f}x)"
                )


def in_turns(epochs: int, rounds: int, cli_threads, cli_eval_every: int, cli_nice: int) -> None:
    """The blog's experiment from the page and from the command line, in turns."""
    print(f"ConvNet, first 1,000 images, {epochs} epochs, augmented; {rounds} round(s) in turns")
    pages, clis = [], []
    for r in range(rounds):
        order = ("page", "cli") if r % 2 == 0 else ("cli", "page")
        for which in order:
            if which == "page":
                page = on_the_page(BLOG_PRESET, None if epochs == 100 else epochs)
                pages.append(page)
                print(
                    f"round {r + 1} page: {page['wall']:.1f} s click to result, training "
                    f"{page['train']:.1f} s, estimate {page['estimate']:.0f} s "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                show_steps(page)
            else:
                threads = cli_threads or (pages[-1]["threads"] if pages else None)
                cli = on_the_command_line(
                    epochs, threads or jobs.training_threads(), cli_eval_every, cli_nice
                )
                clis.append(cli)
                print(
                    f"round {r + 1} command line: {cli['wall']:.1f} s, training "
                    f"{cli['train']:.1f} s, its train() {cli['job_wall']:.1f} s "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    print()
    print(f"CLI: {clis[-1]['command']}")
    for i, (page, cli) in enumerate(zip(pages, clis)):
        print(
            f"round {i + 1}: page / command line {page['wall'] / cli['wall']:.2f}x wall, "
            f"{page['train'] / cli['train']:.2f}x training; accuracy {page['accuracy']:.2%} "
            f"and {cli['accuracy']:.2%}"
        )
    pw = statistics.median(p["wall"] for p in pages)
    cw = statistics.median(c["wall"] for c in clis)
    print(
        f"medians: page {pw:.1f} s, command line {cw:.1f} s: {pw / cw:.2f}x wall "
        "(click to result against the whole process; goal: within 1.15x)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100, help="100 is the blog's experiment")
    p.add_argument(
        "--cli-threads",
        type=int,
        default=None,
        help="threads for the CLI run (default: the same as the page's job)",
    )
    p.add_argument(
        "--cli-nice",
        type=int,
        default=NICE,
        help=f"the CLI's niceness (default {NICE}: the training process's own)",
    )
    p.add_argument(
        "--cli-eval-every",
        type=int,
        default=0,
        help="the CLI's --eval-every (1 is its default: all 10,000 every epoch)",
    )
    p.add_argument(
        "--presets",
        action="store_true",
        help="every preset from the page: its estimate against click to result",
    )
    p.add_argument("--rounds", type=int, default=1, help="page and command line, in turns")
    p.add_argument(
        "--only",
        nargs="*",
        default=[],
        help="with --presets: those whose name has one of these, in this order",
    )
    a = p.parse_args()
    if a.presets:
        every_preset(a.only)
        return
    in_turns(a.epochs, a.rounds, a.cli_threads, a.cli_eval_every, a.cli_nice)


if __name__ == "__main__":
    main()
