"""Background training jobs the app can start, watch and cancel: one at a time per process.

A job trains one network, or two one after the other on the same subset (a
head-to-head), in a daemon thread. Its state lives in this process, not in
a browser session, so every open page sees the same job. Trained models are
saved as new versions under ``registry.versions_dir()`` only when the whole
job has finished; a cancelled or failed job writes nothing and never changes
the active models.
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from . import checkpoint, registry
from . import data as mdata
from .evaluate import confusion_matrix
from .models import count_parameters
from .train import Cancelled, Progress, TrainConfig, default_threads, train

log = logging.getLogger(__name__)

NAMES = {"mlp": "MLP", "cnn": "ConvNet"}
STATES = ("idle", "running", "done", "failed", "cancelled")

# The curves' test accuracy is measured on a fixed, class-balanced sample of
# the test set while training (all 10,000 every epoch would cost more than
# training itself on small subsets); the final figure uses all 10,000.
MONITOR_TEST_IMAGES = 2_000
MAX_CURVE_POINTS = 25  # test-accuracy points per run at most
TEST_IMAGES = mdata.SIZES["test"]
EVAL_BATCH = 500  # also the granularity at which the final evaluation can be cancelled

# Conservative rates for the duration estimate, in images per second with
# training_threads() = 1 thread, measured on the 2-core demo machine while
# another training run kept the other core busy (ConvNet evaluation in
# channels_last). Replaced by the rates this process observes once a job of
# at least CALIBRATE_MIN_BATCHES batches has run.
TRAIN_RATE = {("mlp", False): 2_200.0, ("mlp", True): 1_800.0,
              ("cnn", False): 1_700.0, ("cnn", True): 1_400.0}
EVAL_RATE = {"mlp": 8_000.0, "cnn": 5_000.0}
OVERHEAD_SECONDS = 2.0  # model set-up, subset selection, saving
# A process's first run also reads MNIST and pays torch's one-off start-up
# (constructing the first optimiser imports torch._dynamo): 5-6 s measured here
# under load. prepare() pays it in the background when the page is first opened.
FIRST_RUN_SECONDS = 6.0
CALIBRATE_MIN_BATCHES = 20


class JobBusy(RuntimeError):
    """start() while a job is running; the message says what is running."""


def training_threads() -> int:
    """Torch threads for a job: all cores but one, left for the app's inference."""
    # Measured on the 2-core demo machine with another process busy: 1 thread
    # trains the ConvNet at ~1,600-1,900 images/s, 2 threads at ~500-600/s
    # (oversubscribed); the MLP 2,400-2,900/s against 400-700/s.
    return max(1, default_threads() - 1)


def curve_every(epochs: int) -> int:
    """Test accuracy every k epochs, so a run has at most MAX_CURVE_POINTS of them."""
    return max(1, math.ceil(epochs / MAX_CURVE_POINTS))


def title(cfg: TrainConfig) -> str:
    """A human name for a run, e.g. 'ConvNet (1,000 first images, 100 epochs, augmented)'."""
    how = "first" if cfg.first else "balanced"
    aug = ", augmented" if cfg.augment else ""
    return f"{NAMES[cfg.model]} ({cfg.subset:,} {how} images, {cfg.epochs} epochs{aug})"


# --- duration estimate ---------------------------------------------------

_observed_train: dict[tuple[str, bool], float] = {}
_observed_eval: dict[str, float] = {}
_warm = False  # MNIST is in memory and torch's optimiser machinery is loaded
_prepare_lock = threading.Lock()
_preparing = False


def train_rate(model: str, augment: bool) -> float:
    """Training images per second: observed in this process if known, else the constant."""
    return _observed_train.get((model, augment), TRAIN_RATE[(model, augment)])


def eval_rate(model: str) -> float:
    """Test images per second for evaluation."""
    return _observed_eval.get(model, EVAL_RATE[model])


def _eval_epochs(epochs: int, every: int) -> int:
    """How many epochs end with a test evaluation (train() always evaluates the last)."""
    if not every:
        return 1
    return epochs // every + (0 if epochs % every == 0 else 1)


def estimate_seconds(config: TrainConfig) -> float:
    """Rough wall time of one run on this machine (ValueError for an invalid config)."""
    cfg = config.resolved()
    train_s = cfg.subset * cfg.epochs / train_rate(cfg.model, cfg.augment)
    monitor = _eval_epochs(cfg.epochs, cfg.eval_every) * MONITOR_TEST_IMAGES
    eval_s = (monitor + TEST_IMAGES) / eval_rate(cfg.model)
    return train_s + eval_s + OVERHEAD_SECONDS


def estimate_total(configs: list[TrainConfig]) -> float:
    """Rough wall time of a job: its runs one after the other, start-up if cold, and
    measuring the active models where their accuracy is not known yet."""
    total = sum(estimate_seconds(c) for c in configs) + (0.0 if _warm else FIRST_RUN_SECONDS)
    for c in configs:
        if _known_baseline(c.model) is None:
            total += TEST_IMAGES / eval_rate(c.model)
    return total


# --- status --------------------------------------------------------------


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
    test_accuracy: float | None = None  # on all 10,000 test images, when done
    per_class: list[float] | None = None  # accuracy for digits 0..9, when done
    version_id: str | None = None  # "trained/<stem>", once saved
    # The model of this architecture that was active when training ended, measured
    # the same way: {"id", "title", "test_accuracy", "per_class", "train_seconds"}.
    baseline: dict[str, Any] | None = None

    @property
    def batches_done(self) -> int:
        """Batches trained so far, over all epochs."""
        return 0 if not self.epoch else (self.epoch - 1) * self.batches + self.batch


@dataclass
class JobStatus:
    """A snapshot of the process's job, safe to read anywhere."""

    state: str = "idle"  # idle, running, done, failed, cancelled
    id: str | None = None
    runs: list[RunStatus] = field(default_factory=list)
    current: int | None = None  # index into runs of the network being trained
    started: float | None = None  # Unix time
    elapsed: float = 0.0  # seconds since start (to the end, once finished)
    eta: float | None = None  # seconds left, while running
    estimate: float | None = None  # the whole job's estimate at start
    error: str | None = None  # why it failed
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        """Share of the job done, by time: 0..1."""
        if self.state == "done":
            return 1.0
        if self.eta is None:
            return 0.0
        total = self.elapsed + self.eta
        return min(1.0, self.elapsed / total) if total > 0 else 0.0

    @property
    def current_run(self) -> RunStatus | None:
        return self.runs[self.current] if self.current is not None else None

    def describe(self) -> str:
        """One line: what the job trains and where it is."""
        what = " then ".join(r.title for r in self.runs) or "nothing"
        run = self.current_run
        if self.state != "running" or run is None:
            return f"{what}: {self.state}"
        where = f"epoch {max(run.epoch, 1)}/{run.epochs}" if run.state == "training" else run.state
        return f"{what}: {NAMES[run.model]} {where}, {self.elapsed:.0f} s elapsed"


class _Job:
    """The mutable state behind a JobStatus; touched only under the manager's lock."""

    def __init__(self, configs: list[TrainConfig], estimate: float) -> None:
        self.configs = configs
        self.status = JobStatus(
            state="running", id=uuid.uuid4().hex[:12],
            runs=[RunStatus(c.model, asdict(c), title(c), epochs=c.epochs) for c in configs],
            current=0, started=time.time(), estimate=estimate,
        )
        self.t0 = time.monotonic()
        self.t_end: float | None = None
        self.cancel = threading.Event()
        self.eval_started: float | None = None  # monotonic start of the final evaluation
        self.last_batch_elapsed = 0.0  # Progress.elapsed at the last batch of this run
        self.evals_done = 0
        self.thread: threading.Thread | None = None
        # Whether each run will have to measure the active model (not known yet).
        self.measure_baseline = [_known_baseline(c.model) is None for c in configs]


def _remaining(job: _Job, now: float) -> float:
    """Seconds left: the current run from its observed pace, later runs from the estimate."""
    st = job.status
    i = st.current if st.current is not None else 0
    cfg = job.configs[i]
    run = st.runs[i]
    final_eval = TEST_IMAGES / eval_rate(cfg.model)
    if job.measure_baseline[i]:
        final_eval *= 2  # the active model is measured too
    if run.state == "evaluating":
        left = max(0.0, final_eval - (now - (job.eval_started or now)))
    else:
        done = run.batches_done
        total = cfg.epochs * (run.batches or 1)
        if done and run.train_seconds > 0:
            per_batch = run.train_seconds / done
            left_train = (total - done) * per_batch
        else:
            left_train = cfg.subset * cfg.epochs / train_rate(cfg.model, cfg.augment)
            if not _warm:
                left_train += max(0.0, FIRST_RUN_SECONDS - (now - job.t0))
        evals_left = _eval_epochs(cfg.epochs, cfg.eval_every) - job.evals_done
        per_eval = (run.eval_seconds / job.evals_done if job.evals_done
                    else MONITOR_TEST_IMAGES / eval_rate(cfg.model))
        left = left_train + max(0, evals_left) * per_eval + final_eval
    return left + sum(estimate_seconds(c) for c in job.configs[i + 1:])


# --- the manager ---------------------------------------------------------


class JobManager:
    """Runs at most one training job at a time; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: _Job | None = None

    def start(self, configs: list[TrainConfig] | TrainConfig) -> JobStatus:
        """Start training in the background; JobBusy if a job runs, ValueError if invalid."""
        if isinstance(configs, TrainConfig):
            configs = [configs]
        if not 1 <= len(configs) <= 2:
            raise ValueError("a job trains one network, or two (a head-to-head)")
        resolved = []
        for c in configs:
            if c.threads is None:
                c = replace(c, threads=training_threads())
            resolved.append(c.resolved())
        if len(resolved) == 2:
            a, b = resolved
            if a.model == b.model:
                raise ValueError("a head-to-head needs two different networks")
            if (a.subset, a.first, a.seed) != (b.subset, b.first, b.seed):
                raise ValueError("a head-to-head trains both networks on the same subset")
        estimate = estimate_total(resolved)
        with self._lock:
            if self._job is not None and self._job.status.state == "running":
                raise JobBusy(f"a training job is already running: {self._snapshot().describe()}")
            job = _Job(resolved, estimate)
            job.thread = threading.Thread(target=self._run, args=(job,),
                                          name=f"train-{job.status.id}", daemon=True)
            self._job = job
            job.thread.start()
            return self._snapshot()

    def status(self) -> JobStatus:
        """A snapshot of the current (or last) job; state 'idle' if there is none."""
        with self._lock:
            return self._snapshot()

    def cancel(self) -> bool:
        """Ask the running job to stop (honoured between batches); False if none runs."""
        with self._lock:
            job = self._job
            if job is None or job.status.state != "running":
                return False
            job.cancel.set()
            job.status.cancel_requested = True
            return True

    def clear(self) -> bool:
        """Forget a finished job so the page shows none; False while one runs."""
        with self._lock:
            if self._job is not None and self._job.status.state == "running":
                return False
            self._job = None
            return True

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the current job has finished (or timeout); returns the status."""
        with self._lock:
            thread = self._job.thread if self._job is not None else None
        if thread is not None:
            thread.join(timeout)
        return self.status()

    # -- internals --

    def _snapshot(self) -> JobStatus:
        job = self._job
        if job is None:
            return JobStatus()
        st = copy.deepcopy(job.status)
        now = time.monotonic()
        st.elapsed = (job.t_end or now) - job.t0
        st.eta = _remaining(job, now) if st.state == "running" else None
        return st

    def _on_progress(self, job: _Job, index: int, p: Progress) -> None:
        with self._lock:
            run = job.status.runs[index]
            if p.epoch_done:
                # Time between the epoch's last batch and its end is the test evaluation.
                if p.history and p.history[-1].test_accuracy is not None:
                    run.eval_seconds += max(0.0, p.elapsed - job.last_batch_elapsed)
                    job.evals_done += 1
                run.history = [asdict(h) for h in p.history]
            else:
                _mark_warm()
                job.last_batch_elapsed = p.elapsed
                run.train_seconds = p.elapsed - run.eval_seconds
            run.epoch, run.epochs, run.batch, run.batches = p.epoch, p.epochs, p.batch, p.batches
            run.loss, run.accuracy = p.loss, p.accuracy

    def _set(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(job.status, k, v)
            if changes.get("state") in ("done", "failed", "cancelled"):
                job.t_end = time.monotonic()
                job.status.current = None

    def _run(self, job: _Job) -> None:
        """The job thread: train each network, evaluate, then save all or nothing."""
        threads_before = torch.get_num_threads()
        try:
            train_split = mdata.load_split("train")
            test_split = mdata.load_split("test")
            pick = mdata.select_subset(test_split.labels, MONITOR_TEST_IMAGES, first=False, seed=0)
            monitor = mdata.Split(test_split.images[pick], test_split.labels[pick])
            finished = []
            for i, cfg in enumerate(job.configs):
                with self._lock:
                    job.status.current = i
                    job.status.runs[i].state = "training"
                    job.last_batch_elapsed = 0.0
                    job.evals_done = 0
                result = train(cfg, on_progress=lambda p, i=i: self._on_progress(job, i, p),
                               should_stop=job.cancel.is_set, train_split=train_split,
                               test_split=monitor)
                with self._lock:
                    job.status.runs[i].state = "evaluating"
                    job.eval_started = time.monotonic()
                t0 = time.perf_counter()
                acc, per_class, confusion = _evaluate(result.model, cfg.model, test_split,
                                                      job.cancel.is_set)
                eval_s = time.perf_counter() - t0
                _calibrate(cfg, result.history, result.train_seconds, eval_s)
                baseline = _baseline(cfg.model, test_split, job.cancel.is_set)
                with self._lock:
                    run = job.status.runs[i]
                    run.state = "done"
                    run.train_seconds = result.train_seconds
                    run.test_accuracy, run.per_class = acc, per_class
                    run.history = [asdict(h) for h in result.history]
                    run.baseline = baseline
                finished.append((result, acc, per_class, confusion))
            if job.cancel.is_set():
                raise Cancelled()
            ids = _save_all(job, finished)
            with self._lock:
                for run, vid in zip(job.status.runs, ids):
                    run.version_id = vid
            self._set(job, state="done")
        except Cancelled:
            self._set(job, state="cancelled")
        except BaseException as exc:  # MemoryError included: the slot must be freed
            log.exception("training job %s failed", job.status.id)
            self._set(job, state="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            torch.set_num_threads(threads_before)


def _evaluate(model: nn.Module, arch: str, split: mdata.Split,
              should_stop) -> tuple[float, list[float], list[list[int]]]:
    """(accuracy, per-class accuracy, confusion) on a whole split, cancellable per batch."""
    fmt = torch.channels_last if arch == "cnn" else torch.contiguous_format  # ~3x for the CNN
    model = model.to(memory_format=fmt).eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(split), EVAL_BATCH):
            if should_stop():
                raise Cancelled()
            x = mdata.to_float(split.images[i : i + EVAL_BATCH]).contiguous(memory_format=fmt)
            preds.append(model(x).argmax(1))
    model.to(memory_format=torch.contiguous_format)
    pred = torch.cat(preds)
    cm = confusion_matrix(split.labels, pred)
    per_class = (cm.diag().float() / cm.sum(1).clamp(min=1)).tolist()
    return float((pred == split.labels).float().mean()), per_class, cm.tolist()


_baselines: dict[str, tuple[float, list[float]]] = {}  # sha256 -> measured on the test set


def _known_baseline(arch: str) -> dict[str, Any] | None:
    """The active model's accuracy and per-class accuracy if known without measuring."""
    try:
        v, _ = registry.active_version(arch, verify=False)
    except (KeyError, OSError):
        return None
    meta = v.meta
    base = {"id": v.id, "title": v.title, "train_seconds": meta.get("train_seconds"),
            "test_accuracy": meta.get("test_accuracy"),
            "per_class": meta.get("per_class_accuracy")}
    if base["per_class"] is None and meta.get("sha256") in _baselines:
        base["test_accuracy"], base["per_class"] = _baselines[meta["sha256"]]
    return base if base["per_class"] is not None and base["test_accuracy"] is not None else None


def _baseline(arch: str, test: mdata.Split, should_stop) -> dict[str, Any] | None:
    """The active model of arch on the whole test set, for comparison; None if unusable."""
    known = _known_baseline(arch)
    if known is not None:
        return known
    try:
        v, _ = registry.active_version(arch, verify=False)
        model, meta = checkpoint.load(v.path)
    except (KeyError, OSError, checkpoint.CheckpointError) as exc:
        log.warning("cannot measure the active %s: %s", arch, exc)
        return None
    acc, per_class, _ = _evaluate(model, arch, test, should_stop)
    _baselines[meta["sha256"]] = (acc, per_class)
    return {"id": v.id, "title": v.title, "train_seconds": meta.get("train_seconds"),
            "test_accuracy": acc, "per_class": per_class}


def prepare() -> None:
    """Read MNIST and load torch's optimiser machinery in a background thread, once per
    process, so that the first job starts training at once."""
    global _preparing
    with _prepare_lock:
        if _preparing or _warm:
            return
        _preparing = True
    threading.Thread(target=_prepare, name="train-prepare", daemon=True).start()


def _prepare() -> None:
    try:
        mdata.load_split("train")
        mdata.load_split("test")
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo
        _mark_warm()
    except Exception:  # a job would meet the same problem and report it
        log.exception("preparing for training failed")


def _mark_warm() -> None:
    """MNIST is in memory and torch has started: later estimates skip FIRST_RUN_SECONDS."""
    global _warm
    _warm = True


def _calibrate(cfg: TrainConfig, history: list, train_seconds: float, eval_seconds: float) -> None:
    """Remember this process's measured speed for later estimates (long enough runs only)."""
    batches = cfg.epochs * math.ceil(cfg.subset / min(cfg.batch_size, cfg.subset))
    if batches >= CALIBRATE_MIN_BATCHES and train_seconds > 0:
        _observed_train[(cfg.model, cfg.augment)] = cfg.subset * cfg.epochs / train_seconds
    if eval_seconds > 0:
        _observed_eval[cfg.model] = TEST_IMAGES / eval_seconds


def _save_all(job: _Job, finished: list) -> list[str]:
    """Save every trained network as a new version; on any error remove what was written."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    written: list = []
    ids = []
    try:
        for (result, acc, per_class, confusion), run in zip(finished, job.status.runs):
            cfg = result.config
            path = registry.new_version_path(cfg.model, cfg.subset, stamp)
            meta = {
                "title": run.title,
                "train_config": asdict(cfg),
                "test_accuracy": acc,
                "per_class_accuracy": per_class,
                "confusion_matrix": confusion,
                "train_seconds": round(result.train_seconds, 2),
                "wall_seconds": round(result.wall_seconds, 2),
                "parameters": count_parameters(result.model),
                "history": [asdict(h) for h in result.history],
                "history_test_images": MONITOR_TEST_IMAGES,
                "device": result.device,
                "source": "app",
                "job_id": job.status.id,
                "job_seconds": round(time.monotonic() - job.t0, 2),  # start to saving
            }
            written.append(path)
            checkpoint.save(result.model, path, cfg.model, meta)
            ids.append(f"trained/{path.stem}")
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
            checkpoint.meta_path(path).unlink(missing_ok=True)
        raise
    return ids


# --- the process-wide manager --------------------------------------------

MANAGER = JobManager()


def start(configs: list[TrainConfig] | TrainConfig) -> JobStatus:
    """Start a job on the process-wide manager (JobBusy if one runs)."""
    return MANAGER.start(configs)


def status() -> JobStatus:
    """The process-wide job's status."""
    return MANAGER.status()


def cancel() -> bool:
    """Cancel the process-wide job; False if none runs."""
    return MANAGER.cancel()


def clear() -> bool:
    """Forget the process-wide job once finished."""
    return MANAGER.clear()


def wait(timeout: float | None = None) -> JobStatus:
    """Wait for the process-wide job to finish."""
    return MANAGER.wait(timeout)
