"""How long a training job will take: the network table's priors, then what this server saw.

An ``Estimator`` belongs to one job manager. It starts from the speed priors in
the network table and replaces them with the rates observed in finished runs,
so the second estimate on a machine is usually within a few percent.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from mnist_models import data as mdata
from mnist_models.cpu import default_threads
from mnist_models.drawings.drawsets import POOL_FROM
from mnist_models.nets import networks
from mnist_models.training.augment import STYLES
from mnist_models.training.train import TrainConfig

# The curves' test accuracy is measured on a fixed, class-balanced sample of
# the test set while training (all 10,000 every epoch would cost more than
# training itself on small subsets); the final figure uses all 10,000.
MONITOR_TEST_IMAGES = 2_000
TEST_IMAGES = mdata.SIZES["test"]
OVERHEAD_SECONDS = 2.0  # model set-up, subset selection, saving
# A fresh training process imports torch and reads MNIST before it trains:
# 5-6 s measured on the 2-core demo machine under load. A process started in
# advance (jobs.prepare) has paid it already.
START_SECONDS = 6.0
# Tracing and redrawing digits for the "drawn" augmentation, per image and core,
# the first time (drawsets.redrawn keeps them; the estimate assumes they are new).
REDRAW_SECONDS = 0.0035
CALIBRATE_MIN_BATCHES = 20  # shorter runs are mostly start-up: their rate says little


def eval_epochs(epochs: int, every: int) -> int:
    """How many epochs end with a test evaluation (train() always evaluates the last)."""
    if not every:
        return 1
    return epochs // every + (0 if epochs % every == 0 else 1)


@dataclass
class RunProgress:
    """Where a run stands, as far as the estimate needs it."""

    batches_done: int = 0
    batches: int = 0  # per epoch (0: not known yet)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    evals_done: int = 0
    evaluating_for: float | None = None  # seconds into the final evaluation, if there
    started_for: float = 0.0  # seconds since the run's process was asked to start


class Estimator:
    """Training and evaluation rates for duration estimates; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._train: dict[tuple[str, bool], float] = {}
        self._eval: dict[str, float] = {}

    def train_rate(self, model: str, augment: bool) -> float:
        """Training images per second: observed here if known, else the table's prior."""
        with self._lock:
            seen = self._train.get((model, augment))
        return seen or networks.get(model).train_rate[int(augment)]

    def eval_rate(self, model: str) -> float:
        """Test images per second for evaluation."""
        with self._lock:
            seen = self._eval.get(model)
        return seen or networks.get(model).eval_rate

    def observe(self, cfg: TrainConfig, train_seconds: float, eval_seconds: float) -> None:
        """Remember a finished run's speed for later estimates (long enough runs only)."""
        batches = cfg.epochs * math.ceil(cfg.subset / min(cfg.batch_size or 1, cfg.subset))
        with self._lock:
            if batches >= CALIBRATE_MIN_BATCHES and train_seconds > 0:
                self._train[(cfg.model, cfg.augment)] = cfg.subset * cfg.epochs / train_seconds
            if eval_seconds > 0:
                self._eval[cfg.model] = TEST_IMAGES / eval_seconds

    def run_seconds(self, config: TrainConfig) -> float:
        """Rough wall time of one run (ValueError for an invalid config)."""
        cfg = config.resolved()
        train_s = cfg.subset * cfg.epochs / self.train_rate(cfg.model, cfg.augment)
        monitor = eval_epochs(cfg.epochs, cfg.eval_every) * MONITOR_TEST_IMAGES
        return (
            train_s
            + redraw_seconds(cfg)
            + (monitor + TEST_IMAGES) / self.eval_rate(cfg.model)
            + OVERHEAD_SECONDS
        )

    def final_eval_seconds(self, model: str, with_baseline: bool) -> float:
        """The evaluation on all test images (twice when the active model is measured too)."""
        return TEST_IMAGES / self.eval_rate(model) * (2 if with_baseline else 1)

    def total(
        self, configs: Sequence[TrainConfig], measure_baseline: Sequence[bool], warm: bool
    ) -> float:
        """A job's runs one after the other, the process start-up unless warm, and measuring
        the active models where their accuracy is not known yet."""
        total = sum(self.run_seconds(c) for c in configs) + (0.0 if warm else START_SECONDS)
        return total + sum(
            self.final_eval_seconds(c.model, False) for c, m in zip(configs, measure_baseline) if m
        )

    def remaining(
        self,
        configs: Sequence[TrainConfig],
        current: int,
        run: RunProgress,
        measure_baseline: bool,
        warm: bool,
    ) -> float:
        """Seconds left: the current run from its observed pace, later runs from the rates."""
        cfg = configs[current]
        final_eval = self.final_eval_seconds(cfg.model, measure_baseline)
        if run.evaluating_for is not None:
            left = max(0.0, final_eval - run.evaluating_for)
        else:
            total = cfg.epochs * (run.batches or 1)
            if run.batches_done and run.train_seconds > 0:
                left_train = (total - run.batches_done) * run.train_seconds / run.batches_done
            else:
                left_train = cfg.subset * cfg.epochs / self.train_rate(cfg.model, cfg.augment)
                if not warm:
                    left_train += max(0.0, START_SECONDS - run.started_for)
            evals_left = eval_epochs(cfg.epochs, cfg.eval_every) - run.evals_done
            per_eval = (
                run.eval_seconds / run.evals_done
                if run.evals_done
                else MONITOR_TEST_IMAGES / self.eval_rate(cfg.model)
            )
            left = left_train + max(0, evals_left) * per_eval + final_eval
        return left + sum(self.run_seconds(c) for c in configs[current + 1 :])


def redraw_seconds(cfg: TrainConfig) -> float:
    """The most a run spends redrawing its digits before training (none if they are cached)."""
    if not cfg.augment or STYLES[cfg.augment_style].redrawn <= 0:
        return 0.0
    cores = (cfg.threads or default_threads()) if cfg.subset >= POOL_FROM else 1
    return cfg.subset * REDRAW_SECONDS / max(1, min(cores, 8))
