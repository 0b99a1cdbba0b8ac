"""The blog's experiment trained from the Retrain page in a real browser, and from the CLI.

    python bench/bench_retrain.py               # ConvNet, first 1,000 images, 100 epochs, augmented
    python bench/bench_retrain.py --epochs 5    # a quick check that everything works

Page: `streamlit run app.py` (private MNIST_APP_HOME) in headless Chromium;
the job trains in a child process of the server (see mnist_models/training/worker.py);
the preset "The blog's experiment" is chosen, and the wall time is taken from
the click on "Start training" until the page shows the ConvNet's test
accuracy. Command line: the same run as
`python -m mnist_models train --model cnn --subset 1000 --first --epochs 100
--augment --json`, with the job's thread count and priority (nice 10: on a
busy machine the page's run yields to everything else, so the CLI does too)
and, by default, test
accuracy only at the end (--eval-every 0): the page measures the curves on
2,000 test images at most 25 times, the CLI on all 10,000 every epoch, which
would make the CLI mostly evaluation. `training` is optimisation time only,
the figure to compare; `wall` includes everything (for the CLI: Python
start-up, imports and reading MNIST; for the page: the same in the server,
the curves' evaluations and the refreshes).
"""

from __future__ import annotations

import argparse
import json
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
EPOCHS_LABEL = "Epochs (1 to 1,000)"


def wait_until(predicate, timeout: float = 30.0) -> None:
    """Poll until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there in time")
        time.sleep(0.2)


def in_browser(epochs: int) -> dict:
    """Run the preset from the page; wall time from the click to the accuracy shown."""
    from browser_utils import launch_chromium, streamlit_server  # type: ignore

    home = tempfile.mkdtemp(prefix="bench-retrain-")
    with (
        # Local single-user mode: this browser is the presenter, with no passcode to type.
        streamlit_server("app.py", env={"MNIST_APP_HOME": home, "MNIST_LOCAL_MODE": "1"}) as url,
        launch_chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        live = page.locator('[data-stale="false"]')  # skip a rerun's stale copies
        page.goto(url)
        page.get_by_role("link", name="Retrain").click()
        shown_estimate = live.get_by_text("Estimated duration on this machine")
        shown_estimate.wait_for(timeout=120_000)
        before = shown_estimate.inner_text()
        live.locator('[data-testid="stSelectbox"]', has_text="Preset").click()
        page.get_by_role("option", name=BLOG_PRESET, exact=True).click()
        epochs_box = live.get_by_label(EPOCHS_LABEL)
        # The server has applied the preset once the estimate has followed it.
        wait_until(
            lambda: epochs_box.input_value() == "100" and shown_estimate.inner_text() != before
        )
        page.wait_for_timeout(1000)
        if epochs != 100:
            before = shown_estimate.inner_text()
            epochs_box.fill(str(epochs))
            epochs_box.press("Enter")
            wait_until(lambda: shown_estimate.inner_text() != before)
            page.wait_for_timeout(1000)
        estimate = shown_estimate.inner_text()
        t0 = time.perf_counter()
        live.get_by_role("button", name="Start training").click()
        accuracy = live.locator(
            '[data-testid="stMetric"]', has_text="ConvNet test accuracy (10,000 images)"
        )
        accuracy.wait_for(timeout=4 * 3600_000)
        wall = time.perf_counter() - t0
        shown = accuracy.locator('[data-testid="stMetricValue"]').inner_text()
    metas = [json.loads(p.read_text()) for p in Path(home, "versions").glob("*.json")]
    if len(metas) != 1:
        raise RuntimeError(f"expected one saved version in {home}, found {len(metas)}")
    meta = metas[0]
    cfg = meta["train_config"]
    wanted = {"model": "cnn", "subset": 1000, "first": True, "epochs": epochs, "augment": True}
    got = {k: cfg[k] for k in wanted}
    if got != wanted:
        raise RuntimeError(f"the page trained {got}, not {wanted}")
    return {
        "wall": wall,
        "train": meta["train_seconds"],
        "job_wall": meta["wall_seconds"],
        "job": meta["job_seconds"],
        "accuracy": meta["test_accuracy"],
        "shown": shown,
        "estimate": estimate,
        "threads": cfg["threads"],
        "config": cfg,
    }


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
    a = p.parse_args()

    print(f"ConvNet, first 1,000 images, {a.epochs} epochs, augmented", flush=True)
    page = in_browser(a.epochs)
    print(f"page done: {page['wall']:.1f} s", flush=True)
    threads = a.cli_threads or page["threads"] or jobs.training_threads()
    cli = on_the_command_line(a.epochs, threads, a.cli_eval_every, a.cli_nice)

    print()
    print(f"page estimate before the start: {page['estimate']}")
    print(f"{'':34}{'wall (s)':>10}{'training (s)':>14}{'test accuracy':>15}")
    print(
        f"{'page: click -> accuracy shown':34}{page['wall']:>10.1f}{page['train']:>14.1f}"
        f"{page['accuracy']:>15.2%}"
    )
    print(f"{'  (the job, start to saved)':34}{page['job']:>10.1f}")
    print(f"{'  (its train(), as the CLI)':34}{page['job_wall']:>10.1f}")
    print(
        f"{'command line: whole process':34}{cli['wall']:>10.1f}{cli['train']:>14.1f}"
        f"{cli['accuracy']:>15.2%}"
    )
    print(f"{'  (its train())':34}{cli['job_wall']:>10.1f}")
    print()
    print(
        f"page showed {page['shown']}; job threads {page['threads']}, "
        f"test accuracy on 2,000 images every {page['config']['eval_every']} epoch(s)"
    )
    print(f"CLI: {cli['command']}")
    print(
        f"page / command line: {page['wall'] / cli['wall']:.2f}x wall (click to result "
        f"against the whole process), {page['train'] / cli['train']:.2f}x training "
        "(goal: within 1.15x)"
    )


if __name__ == "__main__":
    main()
