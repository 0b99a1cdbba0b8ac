"""The training process: a child of the server that trains a job's networks and reports back.

``jobs`` starts ``main`` with multiprocessing's "spawn" method; what the child then
runs is ``child.py``. The child lowers its own priority (drawings in the server come
first), reads MNIST, measures the active models it was given (their per-digit
accuracy is not recorded), says "ready", then waits for one job. It trains on every
core, sends progress and history over the pipe, evaluates on all test images, and
sends each trained state_dict back: the parent saves them, so a child killed at any
point can never leave a partial checkpoint. Every message is a tuple whose first
item says what it is:

    ("ready", pid, measured, calibration) loaded, waiting for ("job", ...)
    ("progress", run, fields)             RunStatus fields, at most every child.PROGRESS_EVERY s
    ("evaluating", run)                   the final evaluation of run has begun
    ("run_done", run, fields, meta, weights, baseline)
    ("finished",) / ("cancelled",) / ("failed", message)
"""

from __future__ import annotations

import os
import sys
import time
import types
from dataclasses import dataclass
from typing import Any

NICE = 10  # below the server's drawings, above nothing else


@dataclass
class Child:
    """A training process as the server holds it."""

    process: Any  # multiprocessing.Process
    conn: Any  # the server's end of the pipe
    cancel: Any  # multiprocessing.Event: set to stop between batches
    hurry: Any  # multiprocessing.Event: set when a job waits for it (its calibration stops)
    ready: bool = False  # MNIST read, waiting for its job
    ready_message: tuple | None = None  # its "ready", if read before it was given a job
    started: float = 0.0  # time.monotonic() when it was spawned


def spawn(ctx: Any, measure: list[str] = (), calibrate: bool = False) -> Child:
    """Start a training process with ctx, a "spawn" multiprocessing context; it measures the
    checkpoints in `measure` on the test set, and times this machine's training if
    calibrate (estimates.calibrate; cut short when a job is waiting for it), before it
    says it is ready."""
    parent_conn, child_conn = ctx.Pipe()
    cancel, hurry = ctx.Event(), ctx.Event()
    proc = ctx.Process(
        target=main,
        args=(child_conn, cancel, os.getpid(), list(measure), calibrate, hurry),
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
    return Child(proc, parent_conn, cancel, hurry, started=time.monotonic())


def death(process: Any) -> str:
    """Why a training process ended without a word, in words."""
    process.join(5)  # a broken pipe can be seen before the process is reaped
    code = process.exitcode
    if code is None:
        return "the training process stopped answering"
    if code < 0:
        return f"the training process was killed (signal {-code})"
    return f"the training process ended unexpectedly (exit status {code})"


def main(
    conn: Any,
    cancel: Any,
    parent_pid: int,
    measure: list[str],
    calibrate: bool = False,
    hurry: Any = None,
) -> None:
    """The child's entry point: conn is its end of a Pipe, cancel a multiprocessing Event."""
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: train at normal priority
        pass
    # Imported only now, at the lower priority: it loads torch, a second of CPU that the
    # server's drawings come before. This module stays light for the same reason: the
    # spawned child imports it before main() runs.
    from mnist_models.training import child

    child.run(conn, cancel, parent_pid, measure, calibrate, hurry)
