"""What the training process runs (see ``worker``): a job's networks, through the pipeline.

Started by ``worker.main`` once the process has lowered its priority. Every network
of the job is trained with ``pipeline.fit``; its progress, its metadata and its
weights go back over the pipe, and the server saves them.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any

import torch

from mnist_models import data as mdata
from mnist_models.cpu import default_threads
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.evaluate import Cancelled, evaluate
from mnist_models.training import estimates, pipeline, teach
from mnist_models.training.estimates import MONITOR_TEST_IMAGES
from mnist_models.training.train import Progress, TrainConfig

PROGRESS_EVERY = 0.1  # seconds between progress messages within an epoch


def run(
    conn: Any,
    cancel: Any,
    parent_pid: int,
    measure: list[str],
    calibrate: bool = False,
    hurry: Any = None,
) -> None:
    """Read MNIST, measure `measure`, time this machine (if calibrate, until the event
    hurry is set: a job is waiting), say "ready", then train the one job the server sends."""
    try:
        splits = (mdata.load_split("train"), mdata.load_split("test"))
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pays torch's one-off imports
    except Exception as exc:  # e.g. a corrupt MNIST file: the job reports it
        splits = exc
    measured, calibration = [], None
    if not isinstance(splits, Exception):
        measured = [m for m in (_measure(path, splits[1], cancel.is_set) for path in measure) if m]
        if calibrate:
            calibration = estimates.calibrate(
                splits[0],
                monitor_split(splits[1]),
                default_threads(),
                lambda: cancel.is_set() or (hurry is not None and hurry.is_set()),
            )
    try:
        conn.send(("ready", os.getpid(), measured, calibration))
        msg = conn.recv()
    except (EOFError, OSError):  # the server went away before giving a job
        return
    _, configs, baselines, job_id, *more = msg
    teach_job = more[0] if more else None

    def should_stop() -> bool:
        # A cancel request, or a server that died (this process was orphaned).
        return cancel.is_set() or os.getppid() != parent_pid

    try:
        if isinstance(splits, Exception):
            raise splits
        for i, cfg in enumerate(configs):
            _run(conn, i, cfg, baselines[i], splits, should_stop, job_id, teach_job)
        conn.send(("finished",))
    except (EOFError, BrokenPipeError):
        return
    except BaseException as exc:
        try:
            if isinstance(exc, Cancelled):
                conn.send(("cancelled",))
            else:
                conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        except (EOFError, OSError):
            pass
    finally:
        conn.close()


def _run(
    conn: Any,
    i: int,
    cfg: TrainConfig,
    baseline_path: str | None,
    splits: tuple[mdata.Split, mdata.Split],
    should_stop: Any,
    job_id: str,
    teach_job: Any = None,
) -> None:
    """Train, evaluate and send back one network of the job (a teach job's network: taught
    the room from its starting checkpoint, measured before and after)."""
    train_split, test_split = splits
    monitor = monitor_split(test_split)
    state = {"last_sent": 0.0, "last_batch": 0.0, "eval_seconds": 0.0, "evals_done": 0}

    def on_progress(p: Progress) -> None:
        if p.epoch_done:
            # Time between the epoch's last batch and its end is the test evaluation.
            if p.history and p.history[-1].test_accuracy is not None:
                state["eval_seconds"] += max(0.0, p.elapsed - state["last_batch"])
                state["evals_done"] += 1
        else:
            state["last_batch"] = p.elapsed
            now = time.monotonic()
            if p.batch > 1 and now - state["last_sent"] < PROGRESS_EVERY:
                return
            state["last_sent"] = now
        fields = {
            "epoch": p.epoch,
            "epochs": p.epochs,
            "batch": p.batch,
            "batches": p.batches,
            "loss": p.loss,
            "accuracy": p.accuracy,
            "train_seconds": p.elapsed - state["eval_seconds"],
            "eval_seconds": state["eval_seconds"],
            "evals_done": state["evals_done"],
        }
        if p.epoch_done:
            fields["history"] = [asdict(h) for h in p.history]
        conn.send(("progress", i, fields))

    common = {
        "train_split": train_split,
        "test_split": test_split,
        "monitor": monitor,
        "on_progress": on_progress,
        "should_stop": should_stop,
        "on_evaluating": lambda: conn.send(("evaluating", i)),
        "source": "app",
        "fields": {"job_id": job_id, "history_test_images": MONITOR_TEST_IMAGES},
    }
    taught = None
    if teach_job is None:
        fitted = pipeline.fit(cfg, **common)
    else:
        t = teach.teach(teach_job.data, teach_job.starts[i], cfg, teach_job.mix, **common)
        fitted = t.fitted
        labels = teach_job.data.held_labels.tolist()
        taught = t.summary() | {
            "answers": [[k, y, *t.answers[k]] for k, y in zip(teach_job.data.held_ids, labels)]
        }
    weights = checkpoint.weights(fitted.model)
    baseline = None
    if baseline_path is not None:  # the active model's accuracy is not recorded: measure it
        baseline = _measure(baseline_path, test_split, should_stop)
    fields = {
        "train_seconds": fitted.train.train_seconds,
        "eval_seconds": fitted.eval_seconds,
        "test_accuracy": fitted.report.accuracy,
        "per_class": fitted.report.per_class,
        "history": [asdict(h) for h in fitted.train.history],
        "taught": taught,
    }
    conn.send(("run_done", i, fields, fitted.metadata, weights, baseline))


def monitor_split(test_split: mdata.Split) -> mdata.Split:
    """The test images the curves are measured on while training."""
    pick = mdata.select_subset(test_split.labels, MONITOR_TEST_IMAGES, first=False, seed=0)
    return mdata.Split(test_split.images[pick], test_split.labels[pick])


def _measure(path: str, test_split: mdata.Split, should_stop: Any) -> dict[str, Any] | None:
    """{"sha256", "test_accuracy", "per_class"} of a checkpoint on the test set (None if it
    cannot be loaded)."""
    try:
        model, meta = checkpoint.load(path)
    except checkpoint.CheckpointError:
        return None
    net = networks.get(meta["architecture"])
    r = evaluate(
        model, test_split.images, test_split.labels, net.memory_format, should_stop, net.eval_batch
    )
    return {"sha256": meta["sha256"], "test_accuracy": r.accuracy, "per_class": r.per_class}
