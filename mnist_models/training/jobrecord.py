"""A training job as the pages see it (states, status, the active model it is compared
with) and what it leaves on disk (its record, the versions it saved).

The server keeps its job in ``<home>/jobs.json``, rewritten atomically at the
start and at the end of every job, and every RECORD_EVERY_S while it runs with its
progress. A job still "running" in that file whose server process is gone was cut
short by a restart: it is reported as lost. Servers that share an app home (a hall:
deploy/hall.sh) share that record: one job at a time among them (started under
``<home>/jobs.lock``), its progress shown by every server, and a Cancel from any of
them asked through ``<home>/jobs-cancel`` and honoured by the server that runs it;
once it finished, every other server shows its results until one of them forgets it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import enum
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mnist_models import files
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.training.train import TrainConfig, run_title

LOST = "lost when the server stopped"
RECORD_EVERY_S = 2.0  # a running job's progress is rewritten this often (the pages poll at 2 s)


class JobState(str, enum.Enum):
    """What a job is doing; compares equal to its value ("running", ...)."""

    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # running when the server stopped

    def __str__(self) -> str:
        return self.value


class JobBusy(RuntimeError):
    """start() while a job is running; the message says what runs, who started it, and when
    it should end."""


@dataclass
class RunStatus:
    """One network within a job."""

    model: str
    config: dict[str, Any]  # the resolved TrainConfig as a dict
    title: str
    state: str = "waiting"  # waiting, training, evaluating, done
    epoch: int = 0  # 1-based epoch being trained (0: not started)
    epochs: int = 0
    batch: int = 0  # batches done within the epoch
    batches: int = 0  # per epoch
    loss: float | None = None  # running mean over the current epoch
    accuracy: float | None = None  # running train accuracy over the current epoch
    history: list[dict[str, Any]] = field(default_factory=list)  # EpochStats as dicts
    train_seconds: float = 0.0  # optimisation only, so far
    eval_seconds: float = 0.0  # test evaluations, so far
    evals_done: int = 0
    test_accuracy: float | None = None  # on all 10,000 test images, when done
    per_class: list[float] | None = None  # accuracy for digits 0..9, when done
    version_id: str | None = None  # "trained/<stem>", once saved
    # The model of this architecture that was active when training ended, measured
    # the same way: {"id", "title", "test_accuracy", "per_class", "train_seconds"}.
    baseline: dict[str, Any] | None = None
    # A teach job's run (training/teach.py): Taught.summary() and "answers", the held-out
    # drawings' [id, label, answer before, answer after]; None for other runs.
    taught: dict[str, Any] | None = None
    room: str | None = None  # the room a teach job's run learns from

    @property
    def batches_done(self) -> int:
        """Batches trained so far, over all epochs."""
        return 0 if not self.epoch else (self.epoch - 1) * self.batches + self.batch


@dataclass
class JobStatus:
    """A snapshot of the server's job, safe to read anywhere."""

    state: JobState = JobState.IDLE
    id: str | None = None
    runs: list[RunStatus] = field(default_factory=list)
    current: int | None = None  # index into runs of the network being trained
    started: float | None = None  # Unix time
    elapsed: float = 0.0  # seconds since start (to the end, once finished)
    eta: float | None = None  # seconds left, while running
    expected_end: float | None = None  # Unix time, while running
    estimate: float | None = None  # the whole job's estimate at start
    error: str | None = None  # why it failed
    cancel_requested: bool = False
    started_by: str | None = None  # who started it, as shown to people
    # Seconds from the start to each step of the job ("ready", "run0_training",
    # "run0_evaluating", "run0_done", ..., "saved"), for the estimates and benchmarks.
    timings: dict[str, float] = field(default_factory=dict)
    # Run by another server process on this app home (read from its record), not this one.
    elsewhere: bool = False

    @property
    def running(self) -> bool:
        return self.state == JobState.RUNNING

    @property
    def fraction(self) -> float:
        """Share of the job done, by time: 0..1."""
        if self.state == JobState.DONE:
            return 1.0
        if self.eta is None:
            return 0.0
        total = self.elapsed + self.eta
        return min(1.0, self.elapsed / total) if total > 0 else 0.0

    @property
    def current_run(self) -> RunStatus | None:
        return self.runs[self.current] if self.current is not None else None

    def describe(self) -> str:
        """One line: what the job trains, who started it, where it is and when it should end."""
        what = " then ".join(r.title for r in self.runs) or "nothing"
        run = self.current_run
        if self.state != JobState.RUNNING or run is None:
            return f"{what}: {self.state}"
        where = f"epoch {max(run.epoch, 1)}/{run.epochs}" if run.state == "training" else run.state
        who = f", started by {self.started_by}" if self.started_by else ""
        end = ""
        if self.expected_end is not None:
            end = f", should end about {_dt.datetime.fromtimestamp(self.expected_end):%H:%M}"
        return f"{what}{who}: {networks.get(run.model).name} {where}{end}"


def path() -> Path:
    """Where the server's job is recorded."""
    return files.home() / "jobs.json"


def write(status: JobStatus, configs: list[TrainConfig], shown: JobStatus | None = None) -> None:
    """Record a job (OSError if the app folder cannot be written); shown: its snapshot as
    the pages see it (progress, time left), for the other servers on this home."""
    shown = shown or status
    snapshot = asdict(shown)
    snapshot["state"] = str(shown.state)
    data = {
        "id": status.id,
        "state": str(status.state),
        "owner_pid": os.getpid(),
        "started": status.started,
        "started_by": status.started_by,
        "error": status.error,
        "timings": status.timings,
        "configs": [asdict(c) for c in configs],
        "written": time.time(),
        "status": snapshot,
    }
    files.atomic_write(path(), (json.dumps(data) + "\n").encode())


@contextlib.contextmanager
def start_lock() -> Iterator[None]:
    """Held while a server checks that no job runs on this home and records its own, so
    that two servers of a hall cannot both start one."""
    lock = files.home() / "jobs.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_parsed: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}  # path -> (its state, its JSON)
_parsed_lock = threading.Lock()


def _read_cached(p: Path) -> dict[str, Any]:
    """The record's JSON, parsed again only when the file changed (pages ask at every run;
    OSError or ValueError as reading it would raise)."""
    st = os.stat(p)
    key = (st.st_mtime_ns, st.st_size)
    with _parsed_lock:
        hit = _parsed.get(str(p))
    if hit is not None and hit[0] == key:
        return hit[1]
    data = json.loads(p.read_text())
    if not isinstance(data, dict):
        raise ValueError("not a job record")
    with _parsed_lock:
        _parsed[str(p)] = (key, data)
    return data


def _shown(data: dict[str, Any]) -> JobStatus:
    """The job as its record's snapshot shows it (KeyError, TypeError, ValueError if the
    record is not one this code wrote)."""
    snap = copy.deepcopy(data["status"])  # the cached record stays as read
    runs = [RunStatus(**r) for r in snap.pop("runs")]
    snap["state"] = JobState(snap["state"])
    shown = JobStatus(runs=runs, **snap)
    shown.elsewhere = True
    return shown


def running_elsewhere() -> JobStatus | None:
    """The job another live server process on this home is running, as its record last
    showed it (the time since then counted), else None."""
    try:
        data = _read_cached(path())
        pid = int(data["owner_pid"])
        if data["state"] != JobState.RUNNING or pid == os.getpid() or not _pid_alive(pid):
            return None
        shown = _shown(data)
    except (OSError, ValueError, KeyError, TypeError):  # none, or not one this code wrote
        return None
    age = max(0.0, time.time() - float(data.get("written") or time.time()))
    shown.elapsed += age
    if shown.eta is not None:
        shown.eta = max(0.0, shown.eta - age)
    return shown


def recorded_id() -> str | None:
    """The id of the job the record holds (None: no record, or not one this code wrote)."""
    try:
        found = _read_cached(path()).get("id")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, str) else None


FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


def finished_elsewhere() -> JobStatus | None:
    """The last job of another server process on this home (alive or not: a server
    restarted since is another process) once it finished, done, failed or cancelled, as
    its record shows it, until a server forgets it (Dismiss); else None."""
    try:
        data = _read_cached(path())
        if data["state"] not in FINISHED or int(data["owner_pid"]) == os.getpid():
            return None
        return _shown(data)
    except (OSError, ValueError, KeyError, TypeError):  # none, or not one this code wrote
        return None


def cancel_path() -> Path:
    return files.home() / "jobs-cancel"


def request_cancel(job_id: str) -> None:
    """Ask the server running job_id to stop it (OSError if the app folder is read-only)."""
    files.atomic_write(cancel_path(), job_id.encode())


def cancel_requested(job_id: str | None) -> bool:
    """Whether another server asked for job_id to stop."""
    try:
        return job_id is not None and cancel_path().read_text() == job_id
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def running_anywhere() -> bool:
    """Whether a job runs in a server process on this home: recorded as running by a
    process that is alive. An unreadable record counts as running (the careful answer)."""
    try:
        data = json.loads(path().read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    try:
        return data["state"] == JobState.RUNNING and _pid_alive(int(data["owner_pid"]))
    except (KeyError, TypeError, ValueError):
        return True


def read_lost() -> JobStatus | None:
    """The recorded job if it was running when its server process stopped, else None."""
    try:
        data = json.loads(path().read_text())
        if data["state"] != JobState.RUNNING or _pid_alive(int(data["owner_pid"])):
            return None
        cfgs = [TrainConfig(**c) for c in data["configs"]]
        return JobStatus(
            state=JobState.LOST,
            id=data["id"],
            started=data["started"],
            runs=[RunStatus(c.model, asdict(c), run_title(c), epochs=c.epochs) for c in cfgs],
            error=LOST,
            started_by=data.get("started_by"),
        )
    except (OSError, ValueError, KeyError, TypeError):  # no file, or not one we wrote
        return None


def save_versions(finished: list[tuple[dict[str, Any], bytes]], job_seconds: float) -> list[str]:
    """Save each (metadata, checkpoint.weights bytes) as a new version; all or nothing: on any
    error what was written is removed and the error raised."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    written, ids = [], []
    try:
        for meta, weights in finished:
            cfg = meta["train_config"]
            path = registry.new_version_path(cfg["model"], cfg["subset"], stamp)
            written.append(path)
            # The training process made the bytes with checkpoint.weights: written as they are.
            checkpoint.save_weights(
                weights, path, cfg["model"], {**meta, "job_seconds": round(job_seconds, 2)}
            )  # start to saving
            ids.append(f"trained/{path.stem}")
    except BaseException:
        for path in written:  # never raises: the error above is the one to tell
            files.remove_quietly(path)
            files.remove_quietly(checkpoint.meta_path(path))
        raise
    return ids


class Baselines:
    """The active models' test accuracy, for comparison with a job's results: from their
    metadata, or as measured by a job (remembered by sha256); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._measured: dict[str, tuple[float, list[float]]] = {}

    def known(self, arch: str) -> dict[str, Any] | None:
        """{"id", "title", "train_seconds", "test_accuracy", "per_class"} of the active model,
        or None when it must be measured."""
        try:
            v, _ = registry.active_version(arch, verify=False)
        except (KeyError, OSError):
            return None
        meta = v.meta
        base = {
            "id": v.id,
            "title": v.title,
            "train_seconds": meta.get("train_seconds"),
            "test_accuracy": meta.get("test_accuracy"),
            "per_class": meta.get("per_class_accuracy"),
        }
        with self._lock:
            if base["per_class"] is None and meta.get("sha256") in self._measured:
                base["test_accuracy"], base["per_class"] = self._measured[meta["sha256"]]
        return base if base["per_class"] is not None and base["test_accuracy"] is not None else None

    def path(self, arch: str) -> str | None:
        """The active model's checkpoint, for a job to measure."""
        try:
            return str(registry.active_version(arch, verify=False)[0].path)
        except (KeyError, OSError):
            return None

    def remember(self, measured: dict[str, Any] | None) -> None:
        """Keep what a job measured: {"sha256", "test_accuracy", "per_class"}."""
        if measured is not None:
            with self._lock:
                self._measured[measured["sha256"]] = (
                    measured["test_accuracy"],
                    measured["per_class"],
                )
