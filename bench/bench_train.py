"""Training speed of both networks in fp32 and bf16, the blog's experiment, the Keras peer
and each network against its roofline, in one run.

    python bench/bench_train.py              # medians of 3; the peer once (~6 min)
    python bench/bench_train.py --quick      # one repeat, a 20-epoch blog run (~2 min)
    python bench/bench_train.py --no-peer    # our figures only
    python bench/bench_train.py --precision fp32   # one precision only

Precisions: fp32, and bf16 where the CPU computes it natively (where training's
"auto" would take it); --precision, given once or more, picks them. Every repeat runs
each precision in turn, so a shared machine's load falls on both alike.

Ours: train() in this process with the per-model defaults (the network table) on
all cores. "Samples/s" and "s per epoch" come from one-epoch runs on all
60,000 training images, without augmentation (--quick: 10,000 images, the
epoch time scaled up). The blog's experiment is the ConvNet on the first
1,000 images for 100 epochs with augmentation, tested on all 10,000 test
images. Training seconds exclude data loading and the test pass, as the
peer's do (it times model.fit only).

Roofline (roofline.py): each network's FLOPs per image (forward, and a training
step), counted by torch's FlopCounterMode, and the rate its own matrix products and
convolutions reach here alone, at its own batch, shapes and layout, in the precision
of the run; the network's training rate as a fraction of that.

The peer is the seed's Keras program (shared/peers/seed_keras.py beside the main
checkout, or --peer-script; Keras 3 on its torch backend, batch 32, no augmentation),
run in a subprocess with a Python that can import keras and scikit-learn:
--peer-python, else $PEER_PYTHON, else ../peervenv/bin/python, else this Python.
Absolute times drift from run to run and machine to machine; quote the ratios from
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch
from peer import PEER, find_peer_python, peer_rates, peer_script, run_peer
from roofline import network_flops, peak_rate

from mnist_models import data as mdata
from mnist_models.cpu import default_threads, training_precision
from mnist_models.training.train import TrainConfig, train

FULL = mdata.SIZES["train"]
MODELS = ("mlp", "cnn")


def cpu_name() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def other_trainers() -> list[str]:
    """Other training processes on this machine: they would skew every figure."""
    try:
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    except OSError:
        return []
    me = os.getpid()
    return [
        line.strip()
        for line in out.splitlines()
        if "mnist_models train" in line and int(line.split()[0]) != me
    ]


def run_ours(cfg: TrainConfig, train_split: mdata.Split, test_split: mdata.Split) -> dict:
    """One training run; its training seconds, wall seconds and test accuracy."""
    result = train(cfg, train_split=train_split, test_split=test_split)
    return {
        "train_seconds": result.train_seconds,
        "wall_seconds": result.wall_seconds,
        "test_accuracy": result.test_accuracy,
        "precision": result.precision,
    }


def epoch_run(model: str, n: int, seed: int, threads: int, precision: str, splits) -> float:
    """Training seconds of one epoch on n images at the full-data batch and rate."""
    full = TrainConfig(model=model, subset=FULL).resolved()  # --quick: full-data batch and rate
    cfg = TrainConfig(
        model=model,
        subset=n,
        epochs=1,
        eval_every=0,
        seed=seed,
        threads=threads,
        batch_size=full.batch_size,
        lr=full.lr,
        precision=precision,
    )
    tiny_test = mdata.Split(splits[1].images[:100], splits[1].labels[:100])  # not timed
    return run_ours(cfg, splits[0], tiny_test)["train_seconds"]


def blog_run(epochs: int, seed: int, threads: int, precision: str, splits) -> dict:
    """The blog's experiment: ConvNet, first 1,000 images, augmentation, all test images."""
    cfg = TrainConfig(
        model="cnn",
        subset=1000,
        first=True,
        epochs=epochs,
        augment=True,
        eval_every=0,
        seed=seed,
        threads=threads,
        precision=precision,
    )
    return run_ours(cfg, *splits)


def summarise(model: str, n: int, seconds: list[float]) -> dict:
    """Median samples/s and seconds per full epoch from one-epoch runs on n images."""
    med = statistics.median(seconds)
    return {
        "batch_size": TrainConfig(model=model, subset=FULL).resolved().batch_size,
        "images": n,
        "runs": seconds,
        "samples_per_s": n / med,
        "epoch_seconds": med * FULL / n,
        "estimated": n != FULL,
    }


def roofline(model: str, samples_per_s: float, batch: int, precision: str) -> dict:
    """A network's FLOPs, its training's FLOP/s, and that as a fraction of its products'
    peak here (best and median round) in `precision`."""
    flops = network_flops(model)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peak = peak_rate(model, batch, dtype)
    achieved = samples_per_s * flops["step"]
    return {
        **flops,
        "achieved_flop_per_s": achieved,
        "peak": peak,
        "fraction": achieved / peak["flop_per_s"],
        "fraction_of_median": achieved / peak["median_flop_per_s"],
    }


def fmt_s(seconds: float | None, missing: str) -> str:
    """Seconds with sensible precision, or the reason there is no figure."""
    if seconds is None:
        return missing
    return f"{seconds:.1f}" if seconds >= 10 else f"{seconds:.2f}"


def speedup(slow: float | None, fast: float | None) -> str:
    """How many times faster 'fast' is, in bold; a dash without both figures."""
    return f"**{slow / fast:.1f}x**" if slow and fast else "—"


def table(res: dict) -> str:
    """Speed, ours in each precision against the peer, as a Markdown table."""
    precs = list(res["by_precision"])
    by = res["by_precision"]
    peer = peer_rates(res)
    missing = "—" if res.get("peer_ran") else "not run"
    rate = "{:,.0f}".format
    est = " (est.)" if by[precs[0]]["mlp"]["estimated"] else ""
    blog_epochs = by[precs[0]]["blog"]["epochs"]

    def cells(get, fmt, peer_value, faster_is_higher: bool) -> str:
        ours = [get(by[p]) for p in precs]
        shown = " | ".join(fmt(v) for v in ours)
        value = fmt(peer_value) if peer_value else missing
        ups = [speedup(v, peer_value) if faster_is_higher else speedup(peer_value, v) for v in ours]
        return f"{shown} | {value} | {' / '.join(ups)} |"

    rows = [
        f"| | {' | '.join(precs)} | Keras peer (seed) | speed-up ({' / '.join(precs)}) |",
        "|---|" + "---:|" * (len(precs) + 2),
        f"| MLP: training samples/s (batch {by[precs[0]]['mlp']['batch_size']}; peer 32) | "
        + cells(lambda b: b["mlp"]["samples_per_s"], rate, peer.get("mlp_rate"), True),
        f"| MLP: seconds per 60,000-image epoch{est} | "
        + cells(
            lambda b: b["mlp"]["epoch_seconds"],
            lambda v: fmt_s(v, ""),
            peer.get("mlp_epoch"),
            False,
        ),
        f"| ConvNet: training samples/s (batch {by[precs[0]]['cnn']['batch_size']}; peer 32) | "
        + cells(lambda b: b["cnn"]["samples_per_s"], rate, peer.get("cnn_rate"), True),
        f"| ConvNet: seconds per 60,000-image epoch{est} (peer: from the blog's) | "
        + cells(
            lambda b: b["cnn"]["epoch_seconds"],
            lambda v: fmt_s(v, ""),
            peer.get("cnn_epoch"),
            False,
        ),
        f"| Blog's experiment (ConvNet, first 1,000 images, {blog_epochs} epochs; ours "
        "augmented): training seconds | "
        + cells(
            lambda b: b["blog"]["train_seconds"], lambda v: fmt_s(v, ""), peer.get("blog_s"), False
        ),
        "| Blog's experiment: test accuracy on 10,000 images | "
        + " | ".join(f"{by[p]['blog']['test_accuracy']:.2%}" for p in precs)
        + f" | {peer['blog_accuracy']:.2%} | |"
        if "blog_accuracy" in peer
        else "| Blog's experiment: test accuracy on 10,000 images | "
        + " | ".join(f"{by[p]['blog']['test_accuracy']:.2%}" for p in precs)
        + f" | {missing} | |",
    ]
    return "\n".join(rows)


def roofline_table(res: dict) -> str:
    """Each network against its roofline in each precision, as a Markdown table."""
    rows = [
        "| network, precision | MFLOP/image forward / step | trains at GFLOP/s | own products "
        "alone, best / median GFLOP/s | fraction of best / median |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {"mlp": "MLP", "cnn": "ConvNet"}
    for p, b in res["by_precision"].items():
        for model in MODELS:
            r = b[model]["roofline"]
            rows.append(
                f"| {names[model]} (batch {r['peak']['batch']}), {p} | {r['forward'] / 1e6:.2f} / "
                f"{r['step'] / 1e6:.2f} | {r['achieved_flop_per_s'] / 1e9:.1f} | "
                f"{r['peak']['flop_per_s'] / 1e9:.1f} / {r['peak']['median_flop_per_s'] / 1e9:.1f}"
                f" | {r['fraction']:.0%} / {r['fraction_of_median']:.0%} |"
            )
    return "\n".join(rows)


def default_precisions() -> list[str]:
    """fp32, and bf16 too where training's auto takes it."""
    return ["fp32"] + (["bf16"] if training_precision("auto") == "bf16" else [])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="one repeat, 10,000-image epochs, a 20-epoch blog run (peer too)",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the Keras peer")
    p.add_argument("--repeats", type=int, default=None, help="runs per figure (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--peer-python", default=None, help="a Python with keras and scikit-learn")
    p.add_argument("--peer-script", type=Path, default=None, help="the peer's seed_keras.py")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument(
        "--precision",
        action="append",
        choices=["fp32", "bf16"],
        default=None,
        help="a precision to train in (again for more; default: fp32, and bf16 where the "
        "CPU has it natively)",
    )
    a = p.parse_args(argv)
    precisions = list(dict.fromkeys(a.precision or default_precisions()))

    repeats = a.repeats or (1 if a.quick else 3)
    threads = a.threads or default_threads()
    n_epoch = 10_000 if a.quick else FULL
    blog_epochs = 20 if a.quick else 100
    busy = other_trainers()
    load = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}), {threads} threads, medians of "
        f"{repeats}, {' and '.join(precisions)}, load average {load}"
    )
    if busy:
        print(f"warning: {len(busy)} other training process(es) running; figures are skewed:")
        for line in busy:
            print(f"  {line[:120]}")

    splits = mdata.load_split("train"), mdata.load_split("test")
    # Warm-up: first calls build oneDNN kernels and fault in memory.
    for precision in precisions:
        for model in MODELS:
            train(
                TrainConfig(
                    model=model,
                    subset=512,
                    epochs=1,
                    eval_every=0,
                    threads=threads,
                    precision=precision,
                ),
                train_split=splits[0],
                test_split=mdata.Split(splits[1].images[:10], splits[1].labels[:10]),
            )
    res: dict = {
        "machine": cpu_name(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "repeats": repeats,
        "others_running": len(busy),
        "load_average_start": load,
        "precisions": precisions,
    }
    epochs: dict = {(p, m): [] for p in precisions for m in MODELS}
    blogs: dict = {p: [] for p in precisions}
    for r in range(repeats):
        for precision in precisions:  # in turns: the same load on each
            for model in MODELS:
                s = epoch_run(model, n_epoch, r, threads, precision, splits)
                epochs[precision, model].append(s)
                print(f"{precision} {model}: one {n_epoch:,}-image epoch in {s:.2f} s", flush=True)
            run = blog_run(blog_epochs, r, threads, precision, splits)
            blogs[precision].append(run)
            print(
                f"{precision} blog experiment ({blog_epochs} epochs, seed {r}): "
                f"{run['train_seconds']:.2f} s training, test accuracy {run['test_accuracy']:.2%}",
                flush=True,
            )
    res["by_precision"] = {}
    for precision in precisions:
        b = res["by_precision"][precision] = {}
        for model in MODELS:
            b[model] = summarise(model, n_epoch, epochs[precision, model])
            b[model]["roofline"] = roofline(
                model, b[model]["samples_per_s"], b[model]["batch_size"], precision
            )
        runs = blogs[precision]
        b["blog"] = {
            "epochs": blog_epochs,
            "runs": runs,
            "train_seconds": statistics.median(x["train_seconds"] for x in runs),
            "wall_seconds": statistics.median(x["wall_seconds"] for x in runs),
            "test_accuracy": statistics.median(x["test_accuracy"] for x in runs),
        }

    res["peer_ran"] = False
    script = peer_script(a.peer_script)
    if a.no_peer:
        print("peer: skipped (--no-peer)")
    elif script is None:
        print(f"peer: {PEER} not found (--peer-script); our figures only")
    else:
        python, why = find_peer_python(a.peer_python)
        if python is None:
            print(f"peer: {why}; our figures only")
        else:
            res["peer_ran"] = True
            res["peer_python"] = python
            res["peer_cnn"] = run_peer(
                python, script, "cnn", "--subset", "1000", "--epochs", str(blog_epochs)
            )
            print(f"peer cnn: {json.dumps(res['peer_cnn'])}", flush=True)
            res["peer_mlp"] = run_peer(
                python,
                script,
                "mlp",
                "--epochs",
                "1",
                *(["--subset", str(n_epoch)] if a.quick else []),
            )
            print(f"peer mlp: {json.dumps(res['peer_mlp'])}", flush=True)
            for key in ("peer_cnn", "peer_mlp"):
                if "error" in res[key]:
                    print(f"{key}: failed ({res[key]['error']}); left out of the table")
                    res[key] = None
    res["load_average_end"] = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    print()
    print(table(res))
    print()
    print(roofline_table(res))
    print()
    print(
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()} ({threads} threads, "
        f"torch {torch.__version__}) with `python bench/bench_train.py"
        f"{' --quick' if a.quick else ''}`; ours: medians of {repeats}, peer: one run; load "
        f"average {res['load_average_start']} at the start, {res['load_average_end']} at the end."
    )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
