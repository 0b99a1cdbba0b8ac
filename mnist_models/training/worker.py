"""The training process: a child of the server that trains a job's networks and reports back.

``jobs`` starts ``main`` with multiprocessing's "spawn" method. The child lowers
its own priority (drawings in the server come first), reads MNIST, measures the
active models it was given (their per-digit accuracy is not recorded), says
"ready", then waits for one job. It trains on every core, sends progress and
history over the pipe, evaluates on all test images, and sends each trained
state_dict back: the parent saves them, so a child killed at any point can
never leave a partial checkpoint. Every message is a tuple whose first item
says what it is:

    ("ready", pid, measured)              loaded, waiting for ("job", ...)
    ("progress", run, fields)             RunStatus fields, at most every PROGRESS_EVERY s
    ("evaluating", run)                   the final evaluation of run has begun
    ("run_done", run, fields, meta, weights, baseline)
    ("finished",) / ("cancelled",) / ("failed", message)
"""

from __future__ import annotations

import io
import os
import sys
import time
import types
from dataclasses import asdict, dataclass
from typing import Any

NICE = 10  # below the server's drawings, above nothing else
PROGRESS_EVERY = 0.1  # seconds between progress messages within an epoch


@dataclass
class Child:
    """A training process as the server holds it."""

    process: Any  # multiprocessing.Process
    conn: Any  # the server's end of the pipe
    cancel: Any  # multiprocessing.Event: set to stop between batches
    ready: bool = False  # MNIST read, waiting for its job


def spawn(ctx: Any, measure: list[str] = ()) -> Child:
    """Start a training process with ctx, a "spawn" multiprocessing context; it measures the
    checkpoints in `measure` on the test set before it says it is ready."""
    parent_conn, child_conn = ctx.Pipe()
    cancel = ctx.Event()
    proc = ctx.Process(
        target=main,
        args=(child_conn, cancel, os.getpid(), list(measure)),
        name="mnist-training",
        daemon=True,
    )
    # "spawn" runs the parent's __main__ file again in the child. Under Streamlit that
    # is the page being run (it sets each script as __main__), which must not run
    # there: the child is given a blank __main__ instead; it needs nothing from it.
    main_module, blank = sys.modules.get("__main__"), types.ModuleType("__main__")
    sys.modules["__main__"] = blank
    try:
        proc.start()
    finally:
        if sys.modules.get("__main__") is blank:
            sys.modules["__main__"] = main_module
    child_conn.close()
    return Child(proc, parent_conn, cancel)


def death(process: Any) -> str:
    """Why a training process ended without a word, in words."""
    process.join(5)  # a broken pipe can be seen before the process is reaped
    code = process.exitcode
    if code is None:
        return "the training process stopped answering"
    if code < 0:
        return f"the training process was killed (signal {-code})"
    return f"the training process ended unexpectedly (exit status {code})"


def main(conn: Any, cancel: Any, parent_pid: int, measure: list[str]) -> None:
    """The child's entry point: conn is its end of a Pipe, cancel a multiprocessing Event."""
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: train at normal priority
        pass
    from mnist_models import data as mdata

    try:
        splits = (mdata.load_split("train"), mdata.load_split("test"))
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pays torch's one-off imports
    except Exception as exc:  # e.g. a corrupt MNIST file: the job reports it
        splits = exc
    measured = []
    if not isinstance(splits, Exception):
        measured = [m for m in (_measure(path, splits[1], cancel.is_set) for path in measure) if m]
    try:
        conn.send(("ready", os.getpid(), measured))
        msg = conn.recv()
    except (EOFError, OSError):  # the server went away before giving a job
        return
    _, configs, baselines, job_id = msg

    def should_stop() -> bool:
        # A cancel request, or a server that died (this process was orphaned).
        return cancel.is_set() or os.getppid() != parent_pid

    try:
        if isinstance(splits, Exception):
            raise splits
        for i, cfg in enumerate(configs):
            _run(conn, i, cfg, baselines[i], splits, should_stop, job_id)
        conn.send(("finished",))
    except (EOFError, BrokenPipeError):
        return
    except BaseException as exc:
        from mnist_models.nets.evaluate import Cancelled

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
    cfg: Any,
    baseline_path: str | None,
    splits: tuple,
    should_stop: Any,
    job_id: str,
) -> None:
    """Train, evaluate and send back one network of the job."""
    from mnist_models import data as mdata
    from mnist_models.nets import checkpoint, networks
    from mnist_models.nets.evaluate import evaluate
    from mnist_models.training.estimates import MONITOR_TEST_IMAGES
    from mnist_models.training.train import train

    train_split, test_split = splits
    pick = mdata.select_subset(test_split.labels, MONITOR_TEST_IMAGES, first=False, seed=0)
    monitor = mdata.Split(test_split.images[pick], test_split.labels[pick])
    state = {"last_sent": 0.0, "last_batch": 0.0, "eval_seconds": 0.0, "evals_done": 0}

    def on_progress(p: Any) -> None:
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

    result = train(
        cfg,
        on_progress=on_progress,
        should_stop=should_stop,
        train_split=train_split,
        test_split=monitor,
    )
    conn.send(("evaluating", i))
    fmt = networks.get(cfg.model).memory_format
    t0 = time.perf_counter()
    report = evaluate(
        result.model,
        test_split.images,
        test_split.labels,
        memory_format=fmt,
        should_stop=should_stop,
    )
    eval_s = time.perf_counter() - t0
    meta = checkpoint.training_metadata(
        result, report, source="app", job_id=job_id, history_test_images=MONITOR_TEST_IMAGES
    )
    buf = io.BytesIO()
    import torch

    torch.save(result.model.state_dict(), buf)
    baseline = None
    if baseline_path is not None:  # the active model's accuracy is not recorded: measure it
        baseline = _measure(baseline_path, test_split, should_stop)
    fields = {
        "train_seconds": result.train_seconds,
        "eval_seconds": eval_s,
        "test_accuracy": report.accuracy,
        "per_class": report.per_class,
        "history": [asdict(h) for h in result.history],
    }
    conn.send(("run_done", i, fields, meta, buf.getvalue(), baseline))


def _measure(path: str, test_split: Any, should_stop: Any) -> dict[str, Any] | None:
    """{"sha256", "test_accuracy", "per_class"} of a checkpoint on the test set (None if it
    cannot be loaded)."""
    from mnist_models.nets import checkpoint, networks
    from mnist_models.nets.evaluate import evaluate

    try:
        model, meta = checkpoint.load(path)
    except checkpoint.CheckpointError:
        return None
    fmt = networks.get(meta["architecture"]).memory_format
    r = evaluate(
        model, test_split.images, test_split.labels, memory_format=fmt, should_stop=should_stop
    )
    return {"sha256": meta["sha256"], "test_accuracy": r.accuracy, "per_class": r.per_class}
