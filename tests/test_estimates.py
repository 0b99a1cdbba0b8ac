"""The duration estimates: rates from a calibration, earlier runs or priors; fixed costs;
the remaining time from a run's own pace. No timing: made-up rates and seconds."""

from __future__ import annotations

import json

import pytest
import torch

from mnist_models import data as mdata
from mnist_models.cpu import default_threads
from mnist_models.nets import networks
from mnist_models.training import estimates
from mnist_models.training.estimates import Calibration, Estimator, RunProgress
from mnist_models.training.train import TrainConfig

THREADS = default_threads()


def blog(**kw) -> TrainConfig:
    """The blog's experiment as the Retrain page starts it."""
    args = dict(model="cnn", subset=1_000, first=True, epochs=100, augment=True, eval_every=4)
    return TrainConfig(**{**args, "threads": THREADS, **kw}).resolved()


def calibration(train: float = 1_000.0, evals: float = 5_000.0, threads=THREADS):
    return Calibration(
        threads=threads,
        train={f"{m}/none": train for m in networks.keys()},
        eval={m: evals for m in networks.keys()},
    )


def test_a_calibration_sets_the_rates_and_earlier_runs_correct_it():
    est = Estimator()
    cfg = blog()
    prior = networks.get("cnn").train_rate[1]
    assert est.rates(cfg)[0] == prior  # nothing measured: the table's prior
    est.calibrate(calibration(1_000.0))
    # Calibrated without augmentation: an augmented run by the table's ratio.
    ratio = estimates.augment_ratio(cfg)
    assert ratio == prior / networks.get("cnn").train_rate[0]
    assert estimates.augment_ratio(blog(augment=False)) == 1.0
    assert est.rates(cfg) == (1_000.0 * ratio * estimates.calibration_factor("cnn"), 5_000.0)
    # A run went at half the calibration of its time: later calibrations are halved too.
    before = calibration(1_000.0 / ratio)
    est.observe(cfg, train_seconds=200.0, eval_seconds=4.0, calibration=before)
    est.calibrate(calibration(3_000.0 / ratio))  # a quieter hour
    train_rate, eval_rate = est.rates(cfg)
    assert train_rate == pytest.approx(1_500.0)
    assert eval_rate == pytest.approx(3_000.0 * (10_000 / 4.0) / 3_000.0)
    # A calibration with another thread count says nothing about this run.
    est.calibrate(calibration(9_999.0, threads=THREADS + 1))
    assert est.rates(cfg)[0] == pytest.approx(500.0)  # the earlier run's own rate


def test_runs_too_short_to_time_teach_no_rate():
    est = Estimator()
    short = blog(epochs=1, subset=100)  # one batch
    est.observe(short, train_seconds=50.0, eval_seconds=0.0)
    assert est.rates(short)[0] == networks.get("cnn").train_rate[1]


def test_speeds_are_kept_in_the_home_and_read_by_a_later_server(tmp_path, caplog):
    path = tmp_path / "speeds.json"
    cfg = blog()
    Estimator(path=lambda: path).observe(cfg, train_seconds=100.0, eval_seconds=2.0)
    Estimator(path=lambda: path).observe_fixed({"setup": 0.7, "nonsense": 3.0, "save": -1.0})
    later = Estimator(path=lambda: path)
    assert later.rates(cfg) == pytest.approx((1_000.0, 5_000.0))
    assert later.fixed("setup") == 0.7
    assert later.fixed("save") == estimates.FIXED_PRIORS["save"]  # a negative is not kept
    assert "nonsense" not in json.loads(path.read_text())["fixed"]
    # Another thread count, precision or augmentation is another speed.
    assert later.rates(blog(augment=False))[0] == networks.get("cnn").train_rate[0]
    assert later.rates(blog(precision="bf16"))[0] == networks.get("cnn").train_rate[1]
    # A damaged file is ignored with a warning, never an error.
    path.write_text("{not json")
    assert Estimator(path=lambda: path).rates(cfg)[0] == networks.get("cnn").train_rate[1]
    assert "ignoring the recorded training speeds" in caplog.text


def test_fixed_costs_are_the_median_of_the_latest():
    est = Estimator()
    for seconds in [9.0, 1.0, 2.0, 3.0, 100.0, 2.5]:
        est.observe_fixed({"after": seconds})
    assert est.fixed("after") == 2.5  # the last five: 1, 2, 3, 100, 2.5
    assert est.fixed("start") == estimates.START_SECONDS


def test_the_total_counts_every_part_from_click_to_result(monkeypatch):
    monkeypatch.setattr(estimates, "calibration_factor", lambda model: 1.0)  # round figures
    est = Estimator()
    est.calibrate(calibration(1_000.0, 5_000.0))
    cfg = blog(augment=False)
    train = 100_000 / 1_000.0
    evals = (25 * estimates.MONITOR_TEST_IMAGES + 10_000) / 5_000.0
    fixed = sum(est.fixed(k) for k in ("setup", "after", "save")) + estimates.PAGE_SECONDS
    assert est.total([cfg], [False], 0.0) == pytest.approx(train + evals + fixed)
    assert est.total([cfg], [False], 4.0) == pytest.approx(train + evals + fixed + 4.0)
    # Measuring the active model too is one more evaluation on all test images.
    assert est.total([cfg], [True], 0.0) == pytest.approx(train + evals + fixed + 2.0)
    # Redrawing for the "drawn" augmentation comes before training.
    drawn = blog(augment_style="drawn")
    assert est.run_seconds(drawn) == pytest.approx(
        est.run_seconds(blog()) + 1_000 * estimates.REDRAW_SECONDS
    )


def test_the_remaining_time_follows_the_runs_own_pace(monkeypatch):
    monkeypatch.setattr(estimates, "calibration_factor", lambda model: 1.0)  # round figures
    est = Estimator()
    est.calibrate(calibration(1_000.0, 5_000.0))
    cfg = blog(augment=False)  # 8 batches an epoch, 800 in all; estimated 100 s of training
    total = est.total([cfg], [False], 3.0)
    assert est.remaining([cfg], 0, RunProgress(), False, 3.0) == pytest.approx(total)
    # 1 s into the start-up: a second less.
    waiting = est.remaining([cfg], 0, RunProgress(started_for=1.0), False, 3.0)
    assert waiting == pytest.approx(total - 1.0)
    # A quarter done, at half the estimated pace: 150 s of training left, not 75.
    quarter = RunProgress(batches_done=200, batches=8, train_seconds=50.0, started_for=60.0)
    left = est.remaining([cfg], 0, quarter, False, 3.0)
    rest = left - 150.0
    assert rest == pytest.approx(total - 3.0 - est.fixed("setup") - 100.0)
    # The first batches are trusted less: after 1%, halfway between the two.
    early = RunProgress(batches_done=4, batches=8, train_seconds=1.0)
    paced, estimated = 796 * 1.0 / 4, 100.0 * 0.995
    w = 0.005 / estimates.TRUST_PACE_AFTER
    left_train = est.remaining([cfg], 0, early, False, 3.0) - (total - 3.0 - 100.0)
    assert left_train + est.fixed("setup") == pytest.approx(w * paced + (1 - w) * estimated)
    # During the final evaluation only what follows it is left.
    ending = est.remaining([cfg], 0, RunProgress(evaluating_for=1.0), False, 3.0)
    assert ending == pytest.approx(
        1.0 + est.fixed("after") + est.fixed("save") + estimates.PAGE_SECONDS
    )
    # A head-to-head: the second run's whole estimate is still to come.
    mlp = blog(model="mlp")
    both = est.remaining([cfg, mlp], 0, RunProgress(evaluating_for=1.0), False, 3.0)
    assert both == pytest.approx(ending + est.run_seconds(mlp))


def test_the_calibration_times_every_network(train_split, test_split, monkeypatch):
    monkeypatch.setattr(estimates, "CALIBRATE_IMAGES", 256)
    monitor = mdata.Split(test_split.images[:200], test_split.labels[:200])
    threads = torch.get_num_threads()  # train() sets the process's, as the child wants
    try:
        got = estimates.calibrate(train_split, monitor, 1, lambda: False)
    finally:
        torch.set_num_threads(threads)
    assert got.threads == 1 and got.seconds > 0
    assert set(got.train) == {f"{m}/none" for m in networks.keys()}
    assert set(got.eval) == set(networks.keys())
    assert all(v > 0 for v in [*got.train.values(), *got.eval.values()])
    # Stopped (a job is waiting): no calibration rather than a partial one.
    assert estimates.calibrate(train_split, monitor, 1, lambda: True) is None
