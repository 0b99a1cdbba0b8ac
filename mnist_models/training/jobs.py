"""Background training jobs the app can start, watch and cancel: one at a time per server.

A job trains one network, or two one after the other on the same subset (a
head-to-head), in a child process (see ``worker``). Its state lives in the
server, not in a browser session, so every open page sees the same job, and
in ``<home>/jobs.json``, so a job cut short by a server restart is reported as
lost instead of vanishing. Trained models are saved as new versions only when
the whole job has finished; a cancelled, failed or killed job writes nothing
and never changes the active models.
"""

from __future__ import annotations

import copy
import logging
import math
import multiprocessing
import threading
import time
import uuid
from dataclasses import asdict, replace

from mnist_models import files
from mnist_models.cpu import default_threads
from mnist_models.nets import networks, registry
from mnist_models.training import jobrecord as record
from mnist_models.training import worker
from mnist_models.training.estimates import (
    MONITOR_TEST_IMAGES as MONITOR_TEST_IMAGES,  # the page's caption
)
from mnist_models.training.estimates import Calibration, Estimator, RunProgress, redraw_seconds
from mnist_models.training.jobrecord import JobBusy, JobState, JobStatus, RunStatus
from mnist_models.training.teach import TeachJob
from mnist_models.training.train import TrainConfig, run_title

__all__ = [
    "MANAGER",
    "MONITOR_TEST_IMAGES",
    "JobBusy",
    "JobManager",
    "JobState",
    "JobStatus",
    "RunStatus",
    "calibrating",
    "cancel",
    "cleanup_at_start",
    "clear",
    "curve_every",
    "estimate_total",
    "prepare",
    "start",
    "status",
    "title",
    "training_threads",
    "wait",
]

log = logging.getLogger(__name__)

MAX_CURVE_POINTS = 25  # test-accuracy points per run at most
title = run_title  # a run's human name


def training_threads() -> int:
    """Torch threads for a job: every core (the child runs at a lower priority)."""
    return default_threads()


def curve_every(epochs: int) -> int:
    """Test accuracy every k epochs, so a run has at most MAX_CURVE_POINTS of them."""
    return max(1, math.ceil(epochs / MAX_CURVE_POINTS))


class _Job:
    """A running job's status and its child process; touched only under the manager's lock."""

    def __init__(
        self,
        status: JobStatus,
        configs: list[TrainConfig],
        baselines: list,
        teach: TeachJob | None = None,
    ) -> None:
        self.status, self.configs, self.baselines = status, configs, baselines
        self.teach = teach
        # What the estimates count: a teach job's epochs also hold the room's drawings.
        self.estimated = [teach.estimate_config(c) for c in configs] if teach else configs
        self.t0 = time.monotonic()
        self.t_end: float | None = None
        self.eval_started: float | None = None
        self.finished: list[tuple[dict, bytes]] = []  # (metadata, weights) per run
        self.child: worker.Child | None = None
        self.listener: threading.Thread | None = None
        self.start_wait = 0.0  # the start-up the job was expected to wait for, in seconds
        self.calibration: Calibration | None = None  # of the process that trains it
        self.marks: dict[str, float] = {}  # step -> time.monotonic(); see JobStatus.timings
        self.recorded_end = False  # its end is in <home>/jobs.json (the other servers see it)
        self.final_evals: dict[int, float] = {}  # run -> its final evaluation's seconds
        self.cold = False  # its process was started for it

    def mark(self, step: str) -> None:
        """Note when a step of the job happened (the first time only)."""
        if step not in self.marks:
            self.marks[step] = time.monotonic()
            self.status.timings[step] = round(self.marks[step] - self.t0, 3)


class JobManager:
    """Runs at most one training job at a time in a child process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._spare: worker.Child | None = None  # a child started in advance by prepare()
        self._ctx = multiprocessing.get_context("spawn")
        self.estimator = Estimator(path=lambda: files.home() / "speeds.json")
        self.baselines = record.Baselines()
        self._lost: dict[str, JobStatus | None] = {}  # home -> a lost job found there

    # -- the public API --

    def start(
        self,
        configs: list[TrainConfig] | TrainConfig,
        started_by: str | None = None,
        teach: TeachJob | None = None,
    ) -> JobStatus:
        """Start training in a child process; JobBusy if a job runs, ValueError if invalid.

        teach: fine-tune each config's network from teach.starts[i] on MNIST and a room's
        drawings (training/teach.py), measured before and after."""
        configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
        if teach is not None and len(teach.starts) != len(configs):
            raise ValueError("a teach job needs one starting checkpoint per network")
        if not 1 <= len(configs) <= 2:
            raise ValueError("a job trains one network, or two (a head-to-head)")
        resolved = [replace(c, threads=c.threads or training_threads()).resolved() for c in configs]
        if len(resolved) == 2:
            a, b = resolved
            if a.model == b.model:
                raise ValueError("a head-to-head needs two different networks")
            if (a.subset, a.first, a.seed) != (b.subset, b.first, b.seed):
                raise ValueError("a head-to-head trains both networks on the same subset")
        known = [self.baselines.known(c.model) for c in resolved]
        with record.start_lock(), self._lock:
            if self._job is not None and self._job.status.running:
                raise JobBusy(f"a training run is in progress: {self._snapshot().describe()}")
            elsewhere = record.running_elsewhere()
            if elsewhere is not None:
                raise JobBusy(
                    "a training run is in progress on another server of this app: "
                    + elsewhere.describe()
                )
            record.cancel_path().unlink(missing_ok=True)
            self._poll_spare()
            start_wait = self._start_wait()
            child, self._spare = self._spare, None
            warm = child is not None and child.process.is_alive()
            if warm:
                child.hurry.set()  # a calibration still going stops: this job comes first
            counted = [teach.estimate_config(c) for c in resolved] if teach else resolved
            estimate = self.estimator.total(counted, [k is None for k in known], start_wait)
            if teach is not None:  # the starting models measured on MNIST test first
                estimate += sum(self.estimator.final_eval_seconds(c.model, False) for c in resolved)
            status = JobStatus(
                state=JobState.RUNNING,
                id=uuid.uuid4().hex[:12],
                current=0,
                runs=[
                    RunStatus(
                        c.model,
                        asdict(c),
                        f"{networks.get(c.model).name} taught room {teach.room}"
                        if teach
                        else title(c),
                        epochs=c.epochs,
                        room=teach.room if teach else None,
                    )
                    for c in resolved
                ],
                started=time.time(),
                estimate=estimate,
                started_by=started_by,
            )
            job = _Job(status, resolved, known, teach)
            job.start_wait = start_wait
            job.calibration = self.estimator.calibration if warm and child.ready else None
            job.child = child if warm else worker.spawn(self._ctx)
            job.cold = not warm
            self._job = job
            self._record(job)
            paths = [
                self.baselines.path(c.model) if k is None else None for c, k in zip(resolved, known)
            ]
            job.listener = threading.Thread(
                target=self._listen, args=(job, paths), name=f"train-{status.id}", daemon=True
            )
            job.listener.start()
            return self._snapshot()

    def status(self) -> JobStatus:
        """A snapshot of the current (or last) job; 'lost' for one cut short by a restart;
        the job another server on this app home runs (`elsewhere`), and once it finished,
        until a server forgets it."""
        with self._lock:
            if self._job is not None and self._job.status.running:
                return self._snapshot()
            job = self._job
            if job is not None and job.recorded_end and record.recorded_id() != job.status.id:
                self._job = None  # dismissed on another server, or another job ran since
        elsewhere = record.running_elsewhere()
        if elsewhere is not None:
            return elsewhere
        with self._lock:
            if self._job is None:
                lost = copy.deepcopy(self._find_lost())
                return lost or record.finished_elsewhere() or JobStatus()
            return self._snapshot()

    def cancel(self) -> bool:
        """Ask the running job to stop (honoured between batches); False if none runs.
        Another server's job is asked through the app home (its server honours it)."""
        with self._lock:
            job = self._job
            if job is not None and job.status.running:
                job.child.cancel.set()
                job.status.cancel_requested = True
                return True
        elsewhere = record.running_elsewhere()
        if elsewhere is None or elsewhere.id is None:
            return False
        try:
            record.request_cancel(elsewhere.id)
        except OSError as exc:
            log.warning("cannot ask for the training run to stop: %s", exc)
            return False
        return True

    def clear(self) -> bool:
        """Forget a finished (or lost) job so the page shows none; False while one runs."""
        with self._lock:
            if self._job is not None and self._job.status.running:
                return False
            if record.running_elsewhere() is not None:  # its record is not ours to remove
                return False
            self._job = None
            self._lost[str(record.path())] = None
            try:
                record.path().unlink(missing_ok=True)
            except OSError as exc:  # a read-only app folder: forgotten in this server only
                log.warning("cannot forget the recorded training job: %s", exc)
            return True

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the current job has finished (or timeout); returns the status."""
        with self._lock:
            listener = self._job.listener if self._job is not None else None
        if listener is not None:
            listener.join(timeout)
        return self.status()

    def prepare(self) -> None:
        """Start a training process in advance, so that the next job trains at once."""
        with self._lock:
            busy = self._job is not None and self._job.status.running
            if not busy and (self._spare is None or not self._spare.process.is_alive()):
                # While it waits, it measures the active models whose accuracy per digit
                # is not recorded, which a job would otherwise do after training.
                unknown = [
                    self.baselines.path(k)
                    for k in networks.keys()
                    if self.baselines.known(k) is None
                ]
                # It also times this machine's training for the estimates.
                self._spare = worker.spawn(self._ctx, [p for p in unknown if p], calibrate=True)
            else:
                self._poll_spare()

    def estimate_total(self, configs: list[TrainConfig]) -> float:
        """Wall time of a job with these runs, from Start to the result shown, started now."""
        with self._lock:
            self._poll_spare()
            start_wait = self._start_wait()
        return self.estimator.total(
            configs, [self.baselines.known(c.model) is None for c in configs], start_wait
        )

    def calibrating(self) -> bool:
        """Whether the waiting training process is still timing this machine (the
        estimates improve once it is done)."""
        with self._lock:
            self._poll_spare()
            spare = self._spare
            return spare is not None and spare.process.is_alive() and not spare.ready

    # -- internals --

    def _poll_spare(self) -> None:
        """Read the waiting process's "ready" if it has come (its measurements and
        calibration); under the lock."""
        spare = self._spare
        if spare is None or spare.ready:
            return
        try:
            if not spare.conn.poll(0):
                return
            msg = spare.conn.recv()
        except (EOFError, OSError):  # it died: the next prepare() starts another
            self._spare = None
            return
        self._on_ready(spare, msg)

    def _on_ready(self, child: worker.Child, msg: tuple) -> None:
        """A process's "ready": what it measured and timed."""
        for measured in msg[2]:  # measured while it waited (see prepare)
            self.baselines.remember(measured)
        calibration = msg[3] if len(msg) > 3 else None
        if calibration is not None:
            self.estimator.calibrate(calibration)
        child.ready, child.ready_message = True, msg

    def _start_wait(self) -> float:
        """Seconds a job started now would wait for its process; under the lock."""
        spare = self._spare
        if spare is not None and spare.process.is_alive():
            if spare.ready:
                return 0.0
            # A job stops its calibration: only the start-up is left to wait for.
            return max(0.0, self.estimator.start_seconds() - (time.monotonic() - spare.started))
        return self.estimator.start_seconds()

    def _snapshot(self) -> JobStatus:
        job = self._job
        st = copy.deepcopy(job.status)
        now = time.monotonic()
        st.elapsed = (job.t_end or now) - job.t0
        if st.running:
            i = st.current or 0
            run = st.runs[i]
            evaluating_for = None
            if run.state == "done":  # the next run has not reported yet
                evaluating_for = math.inf
            elif run.state == "evaluating" and job.eval_started is not None:
                evaluating_for = now - job.eval_started
            progress = RunProgress(
                run.batches_done,
                run.batches,
                run.train_seconds,
                run.eval_seconds,
                run.evals_done,
                evaluating_for,
                now - job.t0,
            )
            st.eta = self.estimator.remaining(
                job.estimated, i, progress, job.baselines[i] is None, job.start_wait
            )
            st.expected_end = time.time() + st.eta
        return st

    def _listen(self, job: _Job, baseline_paths: list[str | None]) -> None:
        """The job's thread in the server: relay the child's messages, then save or not."""
        child = job.child
        try:
            end = self._relay(job, baseline_paths)
        except (EOFError, OSError):  # the pipe broke: the child is dead or dying
            end = ("failed", worker.death(child.process))
        if end[0] == "finished":
            try:
                ids = record.save_versions(job.finished, time.monotonic() - job.t0)
                with self._lock:
                    job.mark("saved")
                    for run, vid in zip(job.status.runs, ids):
                        run.version_id = vid
                self._learn_fixed(job)
            except BaseException as exc:  # MemoryError included: the slot must be freed
                log.exception("saving training job %s failed", job.status.id)
                end = ("failed", f"{type(exc).__name__}: {exc}")
        job.finished.clear()  # the weights are on disk now, or not wanted
        state = {"finished": JobState.DONE, "cancelled": JobState.CANCELLED}.get(
            end[0], JobState.FAILED
        )
        if state == JobState.FAILED:  # the whole message, paths included: pages cut them
            log.warning("training job %s failed: %s", job.status.id, end[1])
        with self._lock:
            job.status.state, job.status.current = state, None
            job.status.error = end[1] if state == JobState.FAILED else None
            job.t_end = time.monotonic()
            self._record(job)
        # Ended for the pages now; the process exits on its own (torch takes a while).
        child.process.join(5)
        if child.process.is_alive():
            child.process.kill()

    def _relay(self, job: _Job, baseline_paths: list[str | None]) -> tuple:
        """Hand the child its job, apply its messages; the last one ("finished", ...)."""
        child = job.child
        if child.ready_message is not None:  # read already, while it waited (_poll_spare)
            self._send_job(job, baseline_paths)
        recorded = time.monotonic()
        while True:
            if time.monotonic() - recorded >= record.RECORD_EVERY_S:
                recorded = time.monotonic()
                with self._lock:
                    self._record(job)  # the progress, for the other servers on this home
                if record.cancel_requested(job.status.id) and not job.status.cancel_requested:
                    child.cancel.set()
                    with self._lock:
                        job.status.cancel_requested = True
            if not child.conn.poll(0.25):
                if not child.process.is_alive() and not child.conn.poll(0):
                    return ("failed", worker.death(child.process))
                continue
            msg = child.conn.recv()
            if msg[0] == "ready":
                with self._lock:
                    self._on_ready(child, msg)
                self._send_job(job, baseline_paths)
            elif msg[0] in ("finished", "cancelled", "failed"):
                return msg
            else:
                self._on_message(job, msg)

    def _send_job(self, job: _Job, baseline_paths: list[str | None]) -> None:
        """Give the ready process its job: the runs, and the active models to measure."""
        known = [self.baselines.known(c.model) for c in job.configs]
        with self._lock:
            job.baselines = known
            job.mark("ready")
        paths = [None if k else p for k, p in zip(known, baseline_paths)]
        job.child.conn.send(("job", job.configs, paths, job.status.id, job.teach))

    def _learn_fixed(self, job: _Job) -> None:
        """Teach the estimator the fixed costs this finished job measured."""
        t = job.status.timings
        costs = {"save": t["saved"] - t[f"run{len(job.configs) - 1}_done"]}
        if job.cold:  # a process started for this job: its start-up
            costs["start"] = t["ready"]
        setups, afters = [], []
        for i, cfg in enumerate(job.configs):
            begun = t["ready"] if i == 0 else t.get(f"run{i - 1}_done")
            if begun is None or f"run{i}_training" not in t or f"run{i}_done" not in t:
                return
            setups.append(t[f"run{i}_training"] - begun - redraw_seconds(cfg))
            finals = job.final_evals.get(i, 0.0) * (2 if job.baselines[i] is None else 1)
            afters.append(t[f"run{i}_done"] - t[f"run{i}_evaluating"] - finals)
        costs["setup"] = sum(setups) / len(setups)
        costs["after"] = sum(afters) / len(afters)
        self.estimator.observe_fixed({k: max(0.0, v) for k, v in costs.items()})

    def _on_message(self, job: _Job, msg: tuple) -> None:
        kind, i = msg[0], msg[1]
        with self._lock:
            run = job.status.runs[i]
            job.status.current = i
            if kind == "progress":
                job.mark(f"run{i}_training")
                run.state = "training"
                for k, v in msg[2].items():
                    setattr(run, k, v)
            elif kind == "evaluating":
                job.mark(f"run{i}_evaluating")
                run.state = "evaluating"
                job.eval_started = time.monotonic()
            elif kind == "run_done":
                job.mark(f"run{i}_done")
                fields, meta, weights, measured = msg[2:]
                self.estimator.observe(
                    job.estimated[i],
                    fields["train_seconds"],
                    fields["eval_seconds"],
                    calibration=job.calibration,
                )
                job.final_evals[i] = fields["eval_seconds"]
                self.baselines.remember(measured)
                run.state, run.train_seconds = "done", fields["train_seconds"]
                run.test_accuracy, run.per_class = fields["test_accuracy"], fields["per_class"]
                run.history = fields["history"]
                run.taught = fields.get("taught")
                job.finished.append((meta, weights))
        if kind == "run_done":
            base = self.baselines.known(run.model)
            with self._lock:
                run.baseline = base

    def _record(self, job: _Job) -> None:
        """Write the job to <home>/jobs.json (best effort: the job runs even if it cannot);
        under the lock."""
        try:
            shown = self._snapshot() if self._job is job else None
            record.write(job.status, job.configs, shown)
            if not job.status.running:
                job.recorded_end = True
                record.cancel_path().unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot record the training job: %s", exc)

    def _find_lost(self) -> JobStatus | None:
        """A job recorded as running by a server process that is gone (read once per home),
        while the record still holds it (not once dismissed or replaced on any server)."""
        path = str(record.path())
        if path not in self._lost:
            self._lost[path] = record.read_lost()
        lost = self._lost[path]
        if lost is not None and record.recorded_id() != lost.id:
            self._lost[path] = lost = None
        return lost


# --- the server's manager --------------------------------------------------

MANAGER = JobManager()


def cleanup_at_start() -> list:
    """Remove the temporary files killed saves left in the app home, at a server's start:
    every one of them when no job runs on this home (only a job's save takes long), else
    only those older than registry.STALE_TEMP_SECONDS. Returns the files removed."""
    running = MANAGER.status().running or record.running_anywhere()
    return registry.cleanup(registry.STALE_TEMP_SECONDS if running else 0.0)


def start(
    configs: list[TrainConfig] | TrainConfig,
    started_by: str | None = None,
    teach: TeachJob | None = None,
) -> JobStatus:
    """Start a job on the server's manager (JobBusy if one runs)."""
    return MANAGER.start(configs, started_by=started_by, teach=teach)


def status() -> JobStatus:
    """The server's job status."""
    return MANAGER.status()


def cancel() -> bool:
    """Cancel the server's job; False if none runs."""
    return MANAGER.cancel()


def clear() -> bool:
    """Forget the server's job once finished."""
    return MANAGER.clear()


def wait(timeout: float | None = None) -> JobStatus:
    """Wait for the server's job to finish."""
    return MANAGER.wait(timeout)


def prepare() -> None:
    """Start a training process in advance on the server's manager."""
    MANAGER.prepare()


def estimate_total(configs: list[TrainConfig]) -> float:
    """Wall time of a job with these runs on the server's manager, Start to result."""
    return MANAGER.estimate_total(configs)


def calibrating() -> bool:
    """Whether the server's waiting training process is still timing this machine."""
    return MANAGER.calibrating()
