"""Training speed of both networks, the blog's experiment, and the Keras peer, in one run.

    python bench/bench_train.py              # medians of 3; the peer once (~5 min)
    python bench/bench_train.py --quick      # one repeat, a 20-epoch blog run (~1.5 min)
    python bench/bench_train.py --no-peer    # our figures only

Roofline: the fp32 matrix-product rate torch.mm reaches at the MLP's own
layer shapes (batch 512, forward and backward products), measured in the same
run, and the MLP's achieved FLOP rate in training as a fraction of it.

Ours: train() in this process with the per-model defaults (the network table) on
all cores. "Samples/s" and "s per epoch" come from one-epoch runs on all
60,000 training images, without augmentation (--quick: 10,000 images, the
epoch time scaled up). The blog's experiment is the ConvNet on the first
1,000 images for 100 epochs with augmentation, tested on all 10,000 test
images. Training seconds exclude data loading and the test pass, as the
peer's do (it times model.fit only).

The peer is the seed's Keras program (../shared/peers/seed_keras.py, Keras 3
on its torch backend, batch 32, no augmentation), run in a subprocess with a
Python that can import keras: --peer-python, else $PEER_PYTHON, else
../peervenv/bin/python, else this Python. Absolute times drift from run to
run and machine to machine; quote the ratios from one run.
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

from mnist_models import data as mdata
from mnist_models.cpu import PRECISIONS, default_threads, training_precision
from mnist_models.training.train import TrainConfig, train

PEER_SCRIPT = ROOT.parent / "shared" / "peers" / "seed_keras.py"
FULL = mdata.SIZES["train"]


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
    }


def epoch_figures(
    model: str,
    n: int,
    repeats: int,
    threads: int,
    train_split: mdata.Split,
    test_split: mdata.Split,
    precision: str = "fp32",
) -> dict:
    """Median samples/s and seconds per full epoch, from one-epoch runs on n images."""
    tiny_test = mdata.Split(test_split.images[:100], test_split.labels[:100])  # not timed
    full = TrainConfig(model=model, subset=FULL).resolved()  # --quick: full-data batch and rate
    seconds = []
    for r in range(repeats):
        cfg = TrainConfig(
            model=model,
            subset=n,
            epochs=1,
            eval_every=0,
            seed=r,
            threads=threads,
            batch_size=full.batch_size,
            lr=full.lr,
            precision=precision,
        )
        seconds.append(run_ours(cfg, train_split, tiny_test)["train_seconds"])
    med = statistics.median(seconds)
    return {
        "batch_size": full.batch_size,
        "images": n,
        "runs": seconds,
        "samples_per_s": n / med,
        "epoch_seconds": med * FULL / n,
        "estimated": n != FULL,
    }


# The MLP's matrix products for one batch of 512 (784 -> 900 -> 900 -> 10), in the
# layouts nn.Linear runs them: forward x @ W.T (+ bias), then the backward products,
# the weight gradients g.T @ x and the input gradients g @ W of layers 2 and 3 (the
# images need none). (fan_in, fan_out, input gradient wanted) per layer.
MLP_BATCH = 512
MLP_LAYERS = [(784, 900, False), (900, 900, True), (900, 10, True)]
MLP_FLOP_PER_SAMPLE = sum(2 * i * o * (3 if grad_in else 2) for i, o, grad_in in MLP_LAYERS)


def network_flops(model: str, batch: int = 64) -> dict:
    """FLOPs per image of a network's forward pass and of a training step (forward and
    backward), counted by torch's FlopCounterMode (matrix products and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mnist_models.nets import networks

    net = networks.get(model).build()
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as fwd:
        net(x)
    with FlopCounterMode(display=False) as step:
        net(x).sum().backward()
    return {"forward": fwd.get_total_flops() / batch, "step": step.get_total_flops() / batch}


def matmul_rate(threads: int, seconds: float = 2.0, dtype: torch.dtype = torch.float32) -> dict:
    """FLOP/s of the MLP's own matrix products here in dtype: best and median of rounds."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    ops = []
    for fan_in, fan_out, grad_in in MLP_LAYERS:
        x, grad = (torch.randn(MLP_BATCH, n, generator=g).to(dtype) for n in (fan_in, fan_out))
        w = torch.randn(fan_out, fan_in, generator=g).to(dtype)
        b = torch.randn(fan_out, generator=g).to(dtype)
        ops += [
            lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()),
            lambda x=x, grad=grad: torch.mm(grad.t(), x),
        ]
        if grad_in:
            ops.append(lambda w=w, grad=grad: torch.mm(grad, w))
    flop = MLP_FLOP_PER_SAMPLE * MLP_BATCH
    for op in ops:  # warm-up
        op()
    rates = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        t0 = time.perf_counter()
        for _ in range(10):
            for op in ops:
                op()
        rates.append(10 * flop / (time.perf_counter() - t0))
    return {"flop_per_s": max(rates), "median_flop_per_s": statistics.median(rates)}


def blog_figures(
    epochs: int,
    repeats: int,
    threads: int,
    train_split: mdata.Split,
    test_split: mdata.Split,
    precision: str = "fp32",
) -> dict:
    """The blog's experiment: ConvNet, first 1,000 images, augmentation; medians."""
    runs = []
    for r in range(repeats):
        cfg = TrainConfig(
            model="cnn",
            subset=1000,
            first=True,
            epochs=epochs,
            augment=True,
            eval_every=0,
            seed=r,
            threads=threads,
            precision=precision,
        )
        runs.append(run_ours(cfg, train_split, test_split))
    return {
        "epochs": epochs,
        "runs": runs,
        "train_seconds": statistics.median(r["train_seconds"] for r in runs),
        "wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
        "test_accuracy": statistics.median(r["test_accuracy"] for r in runs),
    }


def find_peer_python(explicit: str | None) -> tuple[str | None, str]:
    """(a Python that imports keras and sklearn, or None; why not)."""
    candidates = [
        explicit,
        os.environ.get("PEER_PYTHON"),
        str(ROOT.parent / "peervenv" / "bin" / "python"),
        sys.executable,
    ]
    tried = []
    for python in dict.fromkeys(c for c in candidates if c):
        if not Path(python).exists():
            tried.append(f"{python} (missing)")
            continue
        probe = subprocess.run(
            [python, "-c", "import keras, sklearn"],
            capture_output=True,
            env={**os.environ, "KERAS_BACKEND": "torch"},
            text=True,
        )
        if probe.returncode == 0:
            return python, ""
        tried.append(f"{python} (no keras/sklearn)")
    return None, "keras is not importable: tried " + ", ".join(tried)


def run_peer(python: str, *args: str) -> dict:
    """One run of the peer program; its JSON line, or an 'error'."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, str(PEER_SCRIPT), *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return {**json.loads(lines[-1]), "process_seconds": wall}


def fmt_s(seconds: float | None, missing: str) -> str:
    """Seconds with sensible precision, or the reason there is no figure."""
    if seconds is None:
        return missing
    return f"{seconds:.1f}" if seconds >= 10 else f"{seconds:.2f}"


def speedup(slow: float | None, fast: float | None) -> str:
    """How many times faster 'fast' is, in bold; a dash without both figures."""
    return f"**{slow / fast:.1f}x**" if slow and fast else "—"


def table(res: dict) -> str:
    """The results as a Markdown table for the README."""
    mlp, cnn, blog = res["mlp"], res["cnn"], res["blog"]
    peer_mlp, peer_cnn = res.get("peer_mlp") or {}, res.get("peer_cnn") or {}
    missing = "—" if res.get("peer_ran") else "not run"
    # Peer rates: the MLP from its one epoch, the ConvNet from the blog's experiment.
    p_mlp_epoch = p_mlp_rate = p_cnn_s = p_cnn_rate = None
    if peer_mlp:
        p_mlp_rate = peer_mlp["subset"] / peer_mlp["train_seconds"]
        p_mlp_epoch = FULL / p_mlp_rate
    if peer_cnn:
        p_cnn_s = peer_cnn["train_seconds"]
        p_cnn_rate = peer_cnn["subset"] * peer_cnn["epochs"] / p_cnn_s
    p_cnn_epoch = FULL / p_cnn_rate if p_cnn_rate else None
    p_acc = f"{peer_cnn['test_accuracy']:.2%}" if peer_cnn else missing
    est = " (est.)" if mlp["estimated"] else ""
    rate = "{:,.0f}".format
    rows = [
        "| | this project | Keras peer (seed) | speed-up |",
        "|---|---:|---:|---:|",
        f"| MLP: training samples/s (batch {mlp['batch_size']}; peer 32) "
        f"| {rate(mlp['samples_per_s'])} | {rate(p_mlp_rate) if p_mlp_rate else missing} "
        f"| {speedup(mlp['samples_per_s'], p_mlp_rate)} |",
        f"| MLP: seconds per 60,000-image epoch{est} | {fmt_s(mlp['epoch_seconds'], '')} "
        f"| {fmt_s(p_mlp_epoch, missing)} | {speedup(p_mlp_epoch, mlp['epoch_seconds'])} |",
        f"| ConvNet: training samples/s (batch {cnn['batch_size']}; peer 32) "
        f"| {rate(cnn['samples_per_s'])} | {rate(p_cnn_rate) if p_cnn_rate else missing} "
        f"| {speedup(cnn['samples_per_s'], p_cnn_rate)} |",
        f"| ConvNet: seconds per 60,000-image epoch{est} | {fmt_s(cnn['epoch_seconds'], '')} "
        f"| {fmt_s(p_cnn_epoch, missing)}{' (est.)' if p_cnn_epoch else ''} "
        f"| {speedup(p_cnn_epoch, cnn['epoch_seconds'])} |",
        f"| Blog's experiment (ConvNet, first 1,000 images, {blog['epochs']} epochs; "
        f"ours augmented): training seconds | {fmt_s(blog['train_seconds'], '')} "
        f"| {fmt_s(p_cnn_s, missing)} | {speedup(p_cnn_s, blog['train_seconds'])} |",
        f"| Blog's experiment: test accuracy on 10,000 images | {blog['test_accuracy']:.2%} "
        f"| {p_acc} | |",
    ]
    return "\n".join(rows)


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
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="training precision (default: what training picks here); the roofline's "
        "matrix products are measured in it",
    )
    a = p.parse_args(argv)
    precision = training_precision(a.precision)

    repeats = a.repeats or (1 if a.quick else 3)
    threads = a.threads or default_threads()
    n_epoch = 10_000 if a.quick else FULL
    blog_epochs = 20 if a.quick else 100
    busy = other_trainers()
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{threads} threads, medians of {repeats}, {precision}"
    )
    if busy:
        print(f"warning: {len(busy)} other training process(es) running; figures are skewed:")
        for line in busy:
            print(f"  {line[:120]}")

    train_split, test_split = mdata.load_split("train"), mdata.load_split("test")
    # Warm-up: first calls build oneDNN kernels and fault in memory.
    for model in ("mlp", "cnn"):
        train(
            TrainConfig(model=model, subset=512, epochs=1, eval_every=0, threads=threads),
            train_split=train_split,
            test_split=mdata.Split(test_split.images[:10], test_split.labels[:10]),
        )
    res: dict = {
        "machine": cpu_name(),
        "torch": torch.__version__,
        "threads": threads,
        "repeats": repeats,
        "others_running": len(busy),
        "precision": precision,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    for model in ("mlp", "cnn"):
        res[model] = epoch_figures(
            model, n_epoch, repeats, threads, train_split, test_split, precision
        )
        print(
            f"{model}: {res[model]['samples_per_s']:,.0f} samples/s, "
            f"{res[model]['epoch_seconds']:.2f} s per 60,000-image epoch "
            f"(runs: {', '.join(f'{s:.2f}' for s in res[model]['runs'])} s)",
            flush=True,
        )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    res["matmul"] = matmul_rate(threads, dtype=dtype)
    for model in ("mlp", "cnn"):
        flops = res[model]["flops"] = network_flops(model)
        rate = res[model]["samples_per_s"] * flops["step"]
        res[model]["flop_per_s"] = rate
        print(
            f"{model}: {flops['forward'] / 1e6:.2f} MFLOP forward, {flops['step'] / 1e6:.2f} "
            f"MFLOP a training step per image; trains at {rate / 1e9:.1f} GFLOP/s "
            f"({rate / res['matmul']['flop_per_s']:.0%} of the MLP-shaped {precision} "
            "matrix-product peak)",
            flush=True,
        )
    achieved = res["mlp"]["samples_per_s"] * MLP_FLOP_PER_SAMPLE
    res["roofline"] = achieved / res["matmul"]["flop_per_s"]
    # On a shared machine the two measurements see different loads: the fraction of the
    # median round says how much of the gap is noise.
    res["roofline_median"] = achieved / res["matmul"]["median_flop_per_s"]
    print(
        f"roofline: the MLP trains at {achieved / 1e9:.1f} GFLOP/s "
        f"({MLP_FLOP_PER_SAMPLE / 1e6:.2f} MFLOP per sample, batch {MLP_BATCH}); its matrix "
        f"products alone reach {res['matmul']['flop_per_s'] / 1e9:.1f} GFLOP/s here (median "
        f"{res['matmul']['median_flop_per_s'] / 1e9:.1f}): {res['roofline']:.0%} of the best, "
        f"{res['roofline_median']:.0%} of the median (goal >= 70%)",
        flush=True,
    )
    res["blog"] = blog_figures(blog_epochs, repeats, threads, train_split, test_split, precision)
    print(
        f"blog experiment ({blog_epochs} epochs): {res['blog']['train_seconds']:.2f} s "
        f"training, {res['blog']['wall_seconds']:.2f} s wall, test accuracy "
        f"{res['blog']['test_accuracy']:.2%} (runs: "
        + ", ".join(
            f"{r['train_seconds']:.2f} s/{r['test_accuracy']:.2%}" for r in res["blog"]["runs"]
        )
        + ")",
        flush=True,
    )

    res["peer_ran"] = False
    if a.no_peer:
        print("peer: skipped (--no-peer)")
    elif not PEER_SCRIPT.is_file():
        print(f"peer: {PEER_SCRIPT} not found; our figures only")
    else:
        python, why = find_peer_python(a.peer_python)
        if python is None:
            print(f"peer: {why}; our figures only")
        else:
            res["peer_ran"] = True
            res["peer_python"] = python
            res["peer_cnn"] = run_peer(
                python, "cnn", "--subset", "1000", "--epochs", str(blog_epochs)
            )
            print(f"peer cnn: {json.dumps(res['peer_cnn'])}", flush=True)
            res["peer_mlp"] = run_peer(
                python, "mlp", "--epochs", "1", *(["--subset", str(n_epoch)] if a.quick else [])
            )
            print(f"peer mlp: {json.dumps(res['peer_mlp'])}", flush=True)
            for key in ("peer_cnn", "peer_mlp"):
                if "error" in res[key]:
                    print(f"{key}: failed ({res[key]['error']}); left out of the table")
                    res[key] = None
    print()
    print(table(res))
    print()
    print(
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()} ({threads} threads, "
        f"torch {torch.__version__}) with `python bench/bench_train.py"
        f"{' --quick' if a.quick else ''}`; ours: medians of {repeats}, peer: one run."
    )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
