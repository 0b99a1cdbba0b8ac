"""The training loop on small real subsets: learning, progress, cancel, divergence, defaults."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch

from mnist_models.nets import networks
from mnist_models.training import train as mtrain
from mnist_models.training.train import Cancelled, Diverged, Progress, TrainConfig, train


def tiny(model: str, **kw) -> TrainConfig:
    """A run of about a second on a balanced real subset (one thread: fastest when shared)."""
    base = dict(model=model, subset=600, epochs=4, eval_every=0, threads=1, device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("model", networks.keys())
def test_tiny_run_learns(model: str, train_split, small_test) -> None:
    result = train(tiny(model), train_split=train_split, test_split=small_test)
    # Chance is 10%; 600 images for four epochs already get far above it.
    assert result.test_accuracy > 0.6
    assert result.history[-1].train_accuracy > 0.3
    assert result.history[-1].loss < result.history[0].loss or len(result.history) == 1
    assert not result.model.training
    assert next(result.model.parameters()).device.type == "cpu"
    assert result.device == "cpu"
    assert 0 < result.train_seconds <= result.wall_seconds


@pytest.mark.slow
def test_augmented_run_learns(train_split, small_test) -> None:
    result = train(tiny("cnn", augment=True), train_split=train_split, test_split=small_test)
    assert result.test_accuracy > 0.5


def test_trained_model_is_contiguous_for_saving(train_split, small_test) -> None:
    result = train(
        tiny("cnn", epochs=1, subset=100), train_split=train_split, test_split=small_test
    )
    for name, tensor in result.model.state_dict().items():
        assert tensor.is_contiguous(), name


@pytest.mark.slow  # trains six runs
@pytest.mark.parametrize("model", networks.keys())
def test_same_seed_same_weights(model: str, train_split, small_test) -> None:
    cfg = tiny(model, subset=300, epochs=1, augment=model == "cnn")
    a = train(cfg, train_split=train_split, test_split=small_test).model.state_dict()
    b = train(cfg, train_split=train_split, test_split=small_test).model.state_dict()
    c = train(
        tiny(model, subset=300, epochs=1, seed=1, augment=model == "cnn"),
        train_split=train_split,
        test_split=small_test,
    ).model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[key], c[key]) for key in a)


def test_progress_reports_every_batch(train_split, small_test) -> None:
    seen: list[Progress] = []
    cfg = tiny("mlp", subset=300, epochs=2, batch_size=128, eval_every=1)
    result = train(cfg, on_progress=seen.append, train_split=train_split, test_split=small_test)
    batches = math.ceil(300 / 128)
    assert len(seen) == 2 * (batches + 1)  # each batch, plus one at each epoch's end
    steps = [p for p in seen if not p.epoch_done]
    assert [(p.epoch, p.batch) for p in steps] == [
        (e, b) for e in (1, 2) for b in range(1, batches + 1)
    ]
    for p in seen:
        assert p.epochs == 2 and p.batches == batches
        assert math.isfinite(p.loss) and p.loss > 0
        assert 0.0 <= p.accuracy <= 1.0
    elapsed = [p.elapsed for p in seen]
    assert elapsed == sorted(elapsed)
    ends = [p for p in seen if p.epoch_done]
    assert [len(p.history) for p in ends] == [1, 2]
    assert ends[-1].history == result.history
    assert [h.epoch for h in result.history] == [1, 2]
    assert all(h.test_accuracy is not None for h in result.history)
    assert ends[-1].loss == result.history[-1].loss
    assert result.history[0].seconds <= result.history[1].seconds


def test_eval_every_zero_tests_only_at_the_end(train_split, small_test) -> None:
    result = train(
        tiny("mlp", subset=100, epochs=3), train_split=train_split, test_split=small_test
    )
    assert [h.test_accuracy is None for h in result.history] == [True, True, False]
    assert result.test_accuracy == result.history[-1].test_accuracy


def test_cancel_raises_between_batches(train_split, small_test) -> None:
    calls: list[Progress] = []

    def stop() -> bool:
        return len(calls) >= 3

    cfg = tiny("cnn", subset=600, epochs=5, batch_size=50)
    with pytest.raises(Cancelled):
        train(
            cfg,
            on_progress=calls.append,
            should_stop=stop,
            train_split=train_split,
            test_split=small_test,
        )
    assert len(calls) == 3  # stopped before the fourth batch, not at the end of a run


def test_cancel_before_start(train_split, small_test) -> None:
    with pytest.raises(Cancelled):
        train(tiny("mlp"), should_stop=lambda: True, train_split=train_split, test_split=small_test)


def test_batch_larger_than_subset(train_split, small_test) -> None:
    seen: list[Progress] = []
    train(
        tiny("mlp", subset=10, epochs=1, batch_size=4096),
        on_progress=seen.append,
        train_split=train_split,
        test_split=small_test,
    )
    assert seen[0].batches == 1


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_any_number_of_steps(steps: int, train_split, small_test) -> None:
    """OneCycleLR once divided by zero for exactly 4 steps (512 images, batch 128)."""
    seen: list[Progress] = []
    train(
        tiny("mlp", subset=128 * steps, epochs=1, batch_size=128),
        on_progress=seen.append,
        train_split=train_split,
        test_split=small_test,
    )
    assert seen[-1].batches == steps


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subset": 0}, "subset must be a whole number from 1 to 60,000, not 0"),
        ({"subset": 60_001}, "from 1 to 60,000, not 60,001"),
        ({"subset": 600.0}, "subset must be a whole number"),
        ({"epochs": 0}, "epochs must be a whole number from 1 to 1,000, not 0"),
        ({"epochs": 1_000_000_000_000}, "from 1 to 1,000"),  # one cap, as on the page
        ({"model": "resnet"}, "unknown model"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"schedule": "cosine"}, "unknown schedule"),
        ({"label_smoothing": 1.0}, "label smoothing"),
        ({"label_smoothing": -0.1}, "label smoothing"),
        ({"lr": float("inf")}, "finite number above 0"),
        ({"lr": float("nan")}, "finite number above 0"),
        ({"lr": -1.0}, "finite number above 0"),
        ({"seed": -1}, "the seed must be a whole number from 0 to 4,294,967,295, not -1"),
        ({"seed": 2**32}, "seed must be"),
        ({"eval_every": -1}, "eval_every"),
        ({"batch_size": 0}, "batch size must be a whole number from 1 to 60,000"),
        ({"weight_decay": -1.0}, "weight decay must be a number in \\[0, 1000\\]"),
        ({"threads": 0}, "threads must be"),
    ],
)
def test_config_validation(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change).resolved()


def test_defaults_fill_only_what_is_unset() -> None:
    for model in networks.keys():
        for subset in (1000, networks.LARGE_SUBSET, 60_000):
            d = mtrain.defaults(model, subset)
            cfg = TrainConfig(model=model, subset=subset).resolved()
            assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.label_smoothing) == (
                d["optimizer"],
                d["lr"],
                d["batch_size"],
                d["label_smoothing"],
            )
    cfg = TrainConfig(
        model="cnn", lr=0.5, batch_size=7, optimizer="sgd", label_smoothing=0.0
    ).resolved()
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.label_smoothing) == ("sgd", 0.5, 7, 0.0)


def test_mlp_takes_large_batches_on_large_subsets() -> None:
    small = TrainConfig(model="mlp", subset=networks.LARGE_SUBSET - 1).resolved()
    large = TrainConfig(model="mlp", subset=networks.LARGE_SUBSET).resolved()
    assert small.batch_size < large.batch_size and small.lr < large.lr
    assert "large" not in mtrain.defaults("mlp", 60_000)


def test_convnet_drops_smoothing_on_large_subsets() -> None:
    """Label smoothing and the high rate help small sets; on all 60,000 they cost 0.3%."""
    small = TrainConfig(model="cnn", subset=networks.LARGE_SUBSET - 1).resolved()
    large = TrainConfig(model="cnn", subset=60_000).resolved()
    assert small.label_smoothing > 0 and large.label_smoothing == 0
    assert large.lr < small.lr and large.batch_size == small.batch_size


def test_old_configs_still_load() -> None:
    """Checkpoint metadata written before label_smoothing existed still makes a config."""
    old = {k: v for k, v in asdict(TrainConfig(model="cnn")).items() if k != "label_smoothing"}
    assert (
        TrainConfig(**old).resolved().label_smoothing
        == mtrain.defaults("cnn", old["subset"])["label_smoothing"]
    )


@pytest.mark.parametrize("model", networks.keys())
def test_a_loss_that_becomes_nan_stops_training(model: str, train_split, small_test) -> None:
    seen: list[Progress] = []
    with pytest.raises(
        Diverged,
        match=r"the loss became nan at epoch 1, batch \d+: training "
        r"stopped and nothing was kept",
    ):
        train(
            tiny(model, subset=300, epochs=3, lr=1e30),
            on_progress=seen.append,
            train_split=train_split,
            test_split=small_test,
        )
    assert all(math.isfinite(p.loss) for p in seen)  # stopped at the first bad batch
    assert not any(p.epoch_done for p in seen)


def test_run_title_names_the_network_from_the_table() -> None:
    assert mtrain.run_title(
        TrainConfig(model="cnn", subset=1000, first=True, epochs=100, augment=True)
    ) == ("ConvNet (1,000 first images, 100 epochs, augmented)")
    assert mtrain.run_title(TrainConfig(model="mlp", subset=300, epochs=2)) == (
        "MLP (300 balanced images, 2 epochs)"
    )
