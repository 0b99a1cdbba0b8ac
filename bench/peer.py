"""The Keras peer of bench_train.py: where its program is, a Python that runs it, one run,
and its figures put as ours are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = Path("shared") / "peers" / "seed_keras.py"
FULL = 60_000  # MNIST's training images: the peer's epoch times are given per full epoch


def peer_script(explicit: Path | None) -> Path | None:
    """The peer program: --peer-script, $PEER_SCRIPT, or shared/ beside this checkout or
    beside the main checkout of this repository (a worktree lives elsewhere)."""
    candidates = [explicit, os.environ.get("PEER_SCRIPT"), ROOT.parent / PEER]
    try:
        common = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if common:
            candidates.append(Path(common).parent.parent / PEER)
    except OSError:  # no git: the first candidates only
        pass
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


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


def run_peer(python: str, script: Path, *args: str) -> dict:
    """One run of the peer program; its JSON line, or an 'error'."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(script), *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return {**json.loads(lines[-1]), "process_seconds": wall}


def peer_rates(res: dict) -> dict:
    """The peer's figures as ours are given: samples/s, seconds per full epoch, the blog's."""
    out: dict = {}
    peer_mlp, peer_cnn = res.get("peer_mlp") or {}, res.get("peer_cnn") or {}
    if peer_mlp:
        out["mlp_rate"] = peer_mlp["subset"] / peer_mlp["train_seconds"]
        out["mlp_epoch"] = FULL / out["mlp_rate"]
    if peer_cnn:
        out["blog_s"] = peer_cnn["train_seconds"]
        out["cnn_rate"] = peer_cnn["subset"] * peer_cnn["epochs"] / out["blog_s"]
        out["cnn_epoch"] = FULL / out["cnn_rate"]
        out["blog_accuracy"] = peer_cnn["test_accuracy"]
    return out
