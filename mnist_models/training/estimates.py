"""How long a training job will take, from the click on Start to the result on the page.

An ``Estimator`` belongs to one job manager. A job's time is its runs' training
(images / training rate), their test evaluations (images / evaluation rate) and
fixed costs: the process start-up when no process waits ready, each run's set-up
(subset, redrawing, the network), what follows its final evaluation (the weights
sent back), the save, and the page noticing the end.

Where the rates come from, best first:

1. a calibration: the training process that waits for the next job (``jobs.prepare``)
   trains each network for a few epochs of 1,000 images and times them, so the rates
   are this machine's at this hour, load included; a correction factor learned from
   earlier runs (their rate against the calibration of their time) is applied to it;
2. the rates of earlier runs with the same network, augmentation, precision and
   thread count, kept in ``<home>/speeds.json`` across server restarts;
3. the priors of the network table.

The fixed costs are learned the same way (medians of the last runs), from priors.
While a run trains, its own pace replaces the rate (``remaining``).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.cpu import default_threads
from mnist_models.drawings.drawsets import POOL_FROM
from mnist_models.nets import networks
from mnist_models.nets.evaluate import Cancelled, logits
from mnist_models.training.augment import STYLES
from mnist_models.training.train import TrainConfig, train

log = logging.getLogger(__name__)

# The curves' test accuracy is measured on a fixed, class-balanced sample of
# the test set while training (all 10,000 every epoch would cost more than
# training itself on small subsets); the final figure uses all 10,000. 1,000 images
# (a point's standard error about 0.5 at 97%): at 2,000 the blog's experiment spent
# 2 s of its 19 s on the page evaluating its 25 points, the page's main cost over the
# command line (bench/bench_retrain.py).
MONITOR_TEST_IMAGES = 1_000
TEST_IMAGES = mdata.SIZES["test"]
# Priors of the fixed costs, replaced by what this machine measured (FIXED names them):
FIXED_PRIORS = {
    # A fresh training process imports torch and reads MNIST before it trains:
    # 5-6 s measured on the 2-core demo machine under load. A process started in
    # advance (jobs.prepare) has paid it already.
    "start": 6.0,
    "setup": 0.3,  # per run: the subset, the network, the test images, before the first batch
    "after": 0.2,  # per run: from its final evaluation's end to its weights in the server
    "save": 0.1,  # per job: writing the new versions
}
START_SECONDS = FIXED_PRIORS["start"]
# From the saved version to the result drawn on the page: the page waits on a job
# that is about to end (app_pages/retrain_run.py), then redraws (measured by
# bench/bench_retrain.py, which the server cannot see).
PAGE_SECONDS = 1.0  # 0.75-1.27 s measured on a quiet 2-core machine (7 runs)
# Tracing and redrawing digits for the "drawn" augmentation, per image and core,
# the first time (drawsets.redrawn keeps them; the estimate assumes they are new).
REDRAW_SECONDS = 0.0035
CALIBRATE_MIN_BATCHES = 20  # shorter runs are mostly start-up: their rate says little
# The calibration: four epochs of this many images per network, without augmentation,
# in the waiting training process; the first is a warm-up, the fastest of the others
# counts (the page that opens meanwhile is drawn on the same cores: one timed epoch
# read the ConvNet at 6,800 images/s in one server and 11,000 in another, where its
# runs trained at 9,300-9,700). Augmented runs take the
# table's ratio of augmented to plain rates. On the busy 2-core machine three epochs
# of 1,000, with and without augmentation, took minutes: this is a quarter of that.
CALIBRATE_IMAGES = 640
CALIBRATE_EPOCHS = 4
CALIBRATE_TEST_IMAGES = 1_000  # evaluated per network, for the evaluation rate
CALIBRATE_EVAL_PASSES = 3
# A run's pace against the calibration's before any run has been seen: each network's
# `calibration_factor` in the network table (nets/networks.py); earlier runs replace it.


def calibration_factor(model: str) -> float:
    """How a first run of this network trains against its calibration."""
    return networks.get(model).calibration_factor


KEEP_RUNS = 30  # runs remembered in speeds.json
RECENT = 5  # the medians are over this many of the latest runs
# A run's own pace replaces the estimated rate gradually, over this share of its batches
# (the first batches are the slowest: caches and the allocator warm up).
TRUST_PACE_AFTER = 0.1


def eval_epochs(epochs: int, every: int) -> int:
    """How many epochs end with a test evaluation (train() always evaluates the last)."""
    if not every:
        return 1
    return epochs // every + (0 if epochs % every == 0 else 1)


def style_of(cfg: TrainConfig) -> str:
    """'none' or the augmentation style."""
    return cfg.augment_style if cfg.augment else "none"


def speed_key(cfg: TrainConfig) -> str:
    """'cnn/jitter/auto/2': what a run's speed depends on (network, augmentation, precision,
    threads)."""
    threads = cfg.threads or default_threads()
    return f"{cfg.model}/{style_of(cfg)}/{cfg.precision}/{threads}"


def calibration_key(cfg: TrainConfig) -> str:
    """The calibrated rate a run's rate is derived from: 'cnn/none'."""
    return f"{cfg.model}/none"


def augment_ratio(cfg: TrainConfig) -> float:
    """How much slower an augmented run trains than a plain one, by the table's priors."""
    prior = networks.get(cfg.model).train_rate
    return prior[1] / prior[0] if cfg.augment else 1.0


@dataclass
class Calibration:
    """Rates measured by a training process just before it was given a job."""

    threads: int
    train: dict[str, float] = field(default_factory=dict)  # calibration_key -> images/s
    eval: dict[str, float] = field(default_factory=dict)  # model -> test images/s
    seconds: float = 0.0  # how long the calibration took
    at: float = 0.0  # Unix time


@dataclass
class RunProgress:
    """Where a run stands, as far as the estimate needs it."""

    batches_done: int = 0
    batches: int = 0  # per epoch (0: not known yet)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    evals_done: int = 0
    evaluating_for: float | None = None  # seconds into the final evaluation, if there
    started_for: float = 0.0  # seconds since the job was started


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class Estimator:
    """Training and evaluation rates and fixed costs for duration estimates; thread-safe.

    path: where the observed speeds are kept (None: in memory only); a callable, so that
    it follows the app home.
    """

    def __init__(self, path: Callable[[], Path] | None = None) -> None:
        self._lock = threading.Lock()
        self._path = path
        self._records: dict[str, dict] = {}  # path (or "") -> {"runs": [...], "fixed": {...}}
        self._calibration: Calibration | None = None

    # -- what is known --

    def _record(self) -> dict:
        """The speeds record of the current home (read once); under the lock."""
        where = str(self._path()) if self._path else ""
        if where not in self._records:
            rec: dict = {"runs": [], "fixed": {}}
            if where:
                try:
                    data = json.loads(Path(where).read_text())
                    rec = {"runs": list(data["runs"]), "fixed": dict(data["fixed"])}
                except FileNotFoundError:
                    pass
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring the recorded training speeds in %s: %s", where, exc)
            self._records[where] = rec
        return self._records[where]

    def _write(self) -> None:
        """Keep the record on disk (best effort); under the lock."""
        if not self._path:
            return
        rec = self._record()
        rec["runs"] = rec["runs"][-KEEP_RUNS:]
        try:
            files.atomic_write(self._path(), (json.dumps(rec) + "\n").encode())
        except OSError as exc:
            log.warning("cannot record the training speeds: %s", exc)

    def calibrate(self, calibration: Calibration | None) -> None:
        """The rates measured by the process that will train the next job."""
        with self._lock:
            self._calibration = calibration

    @property
    def calibration(self) -> Calibration | None:
        with self._lock:
            return self._calibration

    def _calibrated(self, cfg: TrainConfig) -> tuple[float | None, float | None]:
        """(train, eval) rates of the current calibration for cfg's thread count; under the lock."""
        c = self._calibration
        if c is None or c.threads != (cfg.threads or default_threads()):
            return None, None
        train = c.train.get(calibration_key(cfg))
        return (train and train * augment_ratio(cfg)), c.eval.get(cfg.model)

    def _runs(self, key: str) -> list[dict]:
        return [r for r in self._record()["runs"] if r.get("key") == key][-RECENT:]

    def rates(self, config: TrainConfig) -> tuple[float, float]:
        """(training images/s, test images/s) for a run of config: the calibration with
        the factor learned from earlier runs, else earlier runs, else the table's priors."""
        cfg = config.resolved()
        net = networks.get(cfg.model)
        with self._lock:
            calib_train, calib_eval = self._calibrated(cfg)
            runs = self._runs(speed_key(cfg))
            # The same network evaluates at the same pace whatever it was trained with.
            evals = [r for r in self._record()["runs"] if r.get("model") == cfg.model][-RECENT:]
        out = []
        for calib, got, seen, prior, default in (
            (
                calib_train,
                "rate",
                runs,
                net.train_rate[int(cfg.augment)],
                calibration_factor(cfg.model),
            ),
            (calib_eval, "eval_rate", evals, net.eval_rate, 1.0),
        ):
            observed = [r[got] for r in seen if r.get(got)]
            if calib:
                # How the runs' pace compared with the calibration of their time.
                factors = [
                    r[got] / r[f"{got}_calibrated"]
                    for r in seen
                    if r.get(got) and r.get(f"{got}_calibrated")
                ]
                out.append(calib * (_median(factors) or default))
            else:
                out.append(_median(observed) or prior)
        return out[0], out[1]

    def train_rate(self, model: str, augment: bool) -> float:
        """Training images per second of a default run of this network."""
        return self.rates(TrainConfig(model=model, augment=augment))[0]

    def eval_rate(self, model: str) -> float:
        """Test images per second for evaluation."""
        return self.rates(TrainConfig(model=model))[1]

    def fixed(self, name: str) -> float:
        """A fixed cost (FIXED_PRIORS names it): the median of the latest seen, or the prior."""
        with self._lock:
            seen = self._record()["fixed"].get(name) or []
        return _median(seen[-RECENT:]) or FIXED_PRIORS[name]

    # -- what a run teaches --

    def observe(
        self,
        cfg: TrainConfig,
        train_seconds: float,
        eval_seconds: float,
        calibration: Calibration | None = None,
    ) -> None:
        """Remember a finished run's speed (its rate only if long enough), with the
        calibration of the process that trained it, if any."""
        cfg = cfg.resolved()
        batches = cfg.epochs * math.ceil(cfg.subset / min(cfg.batch_size or 1, cfg.subset))
        entry: dict = {"key": speed_key(cfg), "model": cfg.model, "at": round(time.time())}
        if batches >= CALIBRATE_MIN_BATCHES and train_seconds > 0:
            entry["rate"] = cfg.subset * cfg.epochs / train_seconds
        if eval_seconds > 0:
            entry["eval_rate"] = TEST_IMAGES / eval_seconds
        if calibration is not None and calibration.threads == cfg.threads:
            calibrated = calibration.train.get(calibration_key(cfg))
            entry["rate_calibrated"] = calibrated and calibrated * augment_ratio(cfg)
            entry["eval_rate_calibrated"] = calibration.eval.get(cfg.model)
        if len(entry) > 3:
            with self._lock:
                self._record()["runs"].append(entry)
                self._write()

    def observe_fixed(self, costs: dict[str, float]) -> None:
        """Remember measured fixed costs ({name: seconds}, FIXED_PRIORS's names)."""
        with self._lock:
            fixed = self._record()["fixed"]
            for name, seconds in costs.items():
                if name in FIXED_PRIORS and seconds >= 0 and math.isfinite(seconds):
                    fixed[name] = (fixed.get(name) or [])[-(RECENT - 1) :] + [round(seconds, 3)]
            self._write()

    # -- estimates --

    def _parts(self, config: TrainConfig) -> dict[str, float]:
        """A run's estimated seconds by part: setup, train, monitor, final, after."""
        cfg = config.resolved()
        train_rate, eval_rate = self.rates(cfg)
        monitor = eval_epochs(cfg.epochs, cfg.eval_every) * MONITOR_TEST_IMAGES
        return {
            "setup": self.fixed("setup") + redraw_seconds(cfg),
            "train": cfg.subset * cfg.epochs / train_rate,
            "monitor": monitor / eval_rate,
            "final": TEST_IMAGES / eval_rate,
            "after": self.fixed("after"),
        }

    def run_seconds(self, config: TrainConfig) -> float:
        """Wall time of one run within a job (ValueError for an invalid config)."""
        return sum(self._parts(config).values())

    def final_eval_seconds(self, model: str, with_baseline: bool) -> float:
        """The evaluation on all test images (twice when the active model is measured too)."""
        return TEST_IMAGES / self.eval_rate(model) * (2 if with_baseline else 1)

    def start_seconds(self) -> float:
        """A fresh training process's start-up: torch's import and MNIST read."""
        return self.fixed("start")

    def total(
        self, configs: Sequence[TrainConfig], measure_baseline: Sequence[bool], start: float
    ) -> float:
        """Click to result of a job: the start-up still to wait for (seconds), its runs one
        after the other, measuring the active models whose accuracy is not known yet, the
        save and the page."""
        total = start + sum(self.run_seconds(c) for c in configs)
        total += sum(
            self.final_eval_seconds(c.model, False) for c, m in zip(configs, measure_baseline) if m
        )
        return total + self.fixed("save") + PAGE_SECONDS

    def remaining(
        self,
        configs: Sequence[TrainConfig],
        current: int,
        run: RunProgress,
        measure_baseline: bool,
        start: float,
    ) -> float:
        """Seconds left to the result on the page: the current run from its own pace,
        later runs from the rates. start: the start-up the job waited for at its start."""
        cfg = configs[current].resolved()
        parts = self._parts(cfg)
        final = parts["final"] * (2 if measure_baseline else 1)
        if run.evaluating_for is not None:
            left = max(0.0, final - run.evaluating_for) + parts["after"]
        else:
            batches = cfg.epochs * (run.batches or 1)
            left_train = parts["train"]
            if run.batches_done and run.train_seconds > 0:
                paced = (batches - run.batches_done) * run.train_seconds / run.batches_done
                share = run.batches_done / batches
                # Trust the run's own pace more as it goes (fully after TRUST_PACE_AFTER).
                w = min(1.0, share / TRUST_PACE_AFTER)
                left_train = w * paced + (1 - w) * parts["train"] * (1 - share)
            elif current == 0:
                left_train += max(0.0, start - run.started_for) + parts["setup"]
            else:
                left_train += parts["setup"]
            evals_left = eval_epochs(cfg.epochs, cfg.eval_every) - run.evals_done
            per_eval = (
                run.eval_seconds / run.evals_done
                if run.evals_done
                else parts["monitor"] / eval_epochs(cfg.epochs, cfg.eval_every)
            )
            left = left_train + max(0, evals_left) * per_eval + final + parts["after"]
        later = sum(self.run_seconds(c) for c in configs[current + 1 :])
        return left + later + self.fixed("save") + PAGE_SECONDS


def redraw_seconds(cfg: TrainConfig) -> float:
    """The most a run spends redrawing its digits before training (none if they are cached)."""
    if not cfg.augment or STYLES[cfg.augment_style].redrawn <= 0:
        return 0.0
    cores = (cfg.threads or default_threads()) if cfg.subset >= POOL_FROM else 1
    return cfg.subset * REDRAW_SECONDS / max(1, min(cores, 8))


def calibrate(
    train_split: mdata.Split, monitor: mdata.Split, threads: int, should_stop: Callable[[], bool]
) -> Calibration | None:
    """Time each network for a short epoch, and on the monitor's test images: the rates of
    this machine now (None if stopped or failed)."""
    t0 = time.perf_counter()
    out = Calibration(threads=threads, at=time.time())
    try:
        for model in networks.keys():
            cfg = TrainConfig(
                model=model,
                subset=CALIBRATE_IMAGES,
                epochs=CALIBRATE_EPOCHS,
                eval_every=0,
                threads=threads,
            )
            small = mdata.Split(monitor.images[:10], monitor.labels[:10])
            result = train(cfg, should_stop=should_stop, train_split=train_split, test_split=small)
            h = result.history
            # The first epoch is a warm-up; then the fastest.
            seconds = min(b.seconds - a.seconds for a, b in zip(h, h[1:]))
            if seconds > 0:
                out.train[f"{model}/none"] = CALIBRATE_IMAGES / seconds
            net = networks.get(model)
            x = monitor.images[:CALIBRATE_TEST_IMAGES]
            # Once to warm up (the first pass at a batch size sets up its kernels: a
            # timed first pass read the ConvNet's rate as a third of what its runs
            # reached), then the fastest of a few passes (a page being drawn meanwhile
            # slows one of them; each is a tenth of a second).
            logits(result.model, x[: net.eval_batch], net.eval_batch, net.memory_format)
            best = float("inf")
            for _ in range(CALIBRATE_EVAL_PASSES):
                t = time.perf_counter()
                logits(result.model, x, net.eval_batch, net.memory_format, should_stop)
                best = min(best, time.perf_counter() - t)
            out.eval[model] = len(x) / max(1e-6, best)
    except Cancelled:
        return None
    except Exception as exc:  # the job itself will report a real problem
        log.warning("calibration failed: %s", exc)
        return None
    out.seconds = time.perf_counter() - t0
    return out
