"""The one training pipeline on real data: train, evaluate, metadata; fine-tuning from a
checkpoint and extra training images are parameters of the same function."""

from __future__ import annotations

import math

import pytest
import torch

from mnist_models import data as mdata
from mnist_models.nets import checkpoint
from mnist_models.nets.metadata import validate
from mnist_models.training import pipeline
from mnist_models.training.train import TrainConfig


def small(model: str = "mlp", **kw) -> TrainConfig:
    """A run of a second or less on real digits (one thread: fastest when shared)."""
    base = dict(model=model, subset=300, epochs=1, eval_every=0, threads=1, device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory, train_split, small_test):
    """An MLP trained on 2,000 balanced digits for 2 epochs, saved: (path, its accuracy on
    small_test)."""
    path = tmp_path_factory.mktemp("base") / "mlp.pt"
    fitted = pipeline.fit(
        small(subset=2000, epochs=2, seed=5), train_split=train_split, test_split=small_test
    )
    fitted.save(path)
    return path, fitted.report.accuracy


def test_fit_trains_evaluates_and_builds_the_metadata(tmp_path, train_split, test_split):
    events = []
    monitor = mdata.Split(test_split.images[:500], test_split.labels[:500])
    fitted = pipeline.fit(
        small(eval_every=1),
        train_split=train_split,
        test_split=test_split,
        monitor=monitor,
        on_progress=lambda p: events.append("epoch" if p.epoch_done else "batch"),
        on_evaluating=lambda: events.append("evaluating"),
        source="app",
        fields={"job_id": "abc"},
    )
    assert events[-2:] == ["epoch", "evaluating"] and events.count("evaluating") == 1
    report, meta = fitted.report, fitted.metadata
    assert report.count == 10_000 and report.accuracy > 0.4  # every test image, not the monitor
    assert meta["test_accuracy"] == report.accuracy and meta["source"] == "app"
    assert meta["job_id"] == "abc" and sum(map(sum, meta["confusion_matrix"])) == 10_000
    assert meta["title"] == "MLP (300 balanced images, 1 epochs)"
    assert meta["command"] == pipeline.command_line(fitted.config, fitted.train.precision)
    assert fitted.eval_seconds > 0
    saved = fitted.save(tmp_path / "m.pt")
    model, loaded = checkpoint.load(tmp_path / "m.pt")
    assert loaded == saved and validate(loaded) is loaded
    for k, v in fitted.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_without_the_final_evaluation_there_is_nothing_to_save(tmp_path, train_split, small_test):
    fitted = pipeline.fit(
        small(), train_split=train_split, test_split=small_test, evaluate_on_test=False
    )
    assert fitted.report is None and fitted.metadata is None
    assert fitted.train.test_accuracy > 0.4  # the last epoch's, on small_test (chance: 0.1)
    with pytest.raises(ValueError, match="no metadata to save"):
        fitted.save(tmp_path / "m.pt")


def test_fine_tuning_starts_from_the_checkpoints_weights(base_checkpoint, train_split, small_test):
    path, base_accuracy = base_checkpoint
    base, base_meta = checkpoint.load(path)
    assert base_accuracy > 0.8
    # At a vanishing learning rate, a fine-tuned run ends where it started.
    still = pipeline.fit(
        small(subset=100, lr=1e-9, schedule="constant"),
        start=path,
        train_split=train_split,
        test_split=small_test,
    )
    for k, v in base.state_dict().items():
        torch.testing.assert_close(still.model.state_dict()[k], v, atol=1e-6, rtol=0)
    assert still.report.accuracy == pytest.approx(base_accuracy, abs=0.002)
    fresh = pipeline.fit(
        small(subset=100, lr=1e-9, schedule="constant"),
        train_split=train_split,
        test_split=small_test,
    )
    assert fresh.report.accuracy < 0.5  # the same run from scratch learns nothing

    # At the network's own rate, 100 images on top of the checkpoint beat 100 from scratch.
    tuned = pipeline.fit(
        small(subset=100), start=path, train_split=train_split, test_split=small_test
    )
    scratch = pipeline.fit(small(subset=100), train_split=train_split, test_split=small_test)
    assert tuned.report.accuracy > scratch.report.accuracy + 0.1
    meta = tuned.metadata
    assert meta["started_from"] == {"sha256": base_meta["sha256"], "title": base_meta["title"]}
    assert meta["title"] == "MLP (100 balanced images, 1 epochs, fine-tuned)"
    assert "command" not in meta  # `train` starts from scratch: it would not reproduce this
    assert validate(meta | {"architecture": "mlp", "sha256": "0" * 64})


def test_fine_tuning_needs_a_checkpoint_of_the_same_network(base_checkpoint, tmp_path):
    path, _ = base_checkpoint
    with pytest.raises(ValueError, match=r"mlp\.pt holds MLP weights, not ConvNet ones"):
        pipeline.fit(small("cnn"), start=path)
    with pytest.raises(checkpoint.CheckpointError, match=r"gone\.pt: checkpoint file is missing"):
        pipeline.fit(small(), start=tmp_path / "gone.pt")


def test_extra_images_are_mixed_into_the_subset(train_split, small_test):
    """20 MNIST digits alone, then with 1,000 other real digits mixed in, twice over."""
    extra = (train_split.images[59_000:], train_split.labels[59_000:])
    alone = pipeline.fit(
        small(subset=20, first=True, epochs=2), train_split=train_split, test_split=small_test
    )
    batches = []
    mixed = pipeline.fit(
        small(subset=20, first=True, epochs=2),
        extra=extra,
        oversample=2,
        on_progress=lambda p: batches.append(p.batches),
        train_split=train_split,
        test_split=small_test,
    )
    assert batches[0] == math.ceil((20 + 2 * 1000) / 128)  # each extra image twice an epoch
    assert mixed.report.accuracy > alone.report.accuracy + 0.2
    assert mixed.metadata["extra_images"] == 1000 and mixed.metadata["oversample"] == 2
    assert mixed.metadata["title"] == "MLP (20 first images + 1,000 extra, 2 epochs)"
    assert "command" not in mixed.metadata


def test_extra_images_with_the_drawn_augmentation(app_home, train_split, small_test):
    """The drawn style redraws MNIST digits; extra images stand for their own redrawn copy."""
    extra = (train_split.images[59_900:], train_split.labels[59_900:])
    fitted = pipeline.fit(
        small(subset=30, augment=True, augment_style="drawn"),
        extra=extra,
        train_split=train_split,
        test_split=small_test,
        evaluate_on_test=False,
    )
    assert 0.0 < fitted.train.test_accuracy <= 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((torch.zeros(3, 28, 28), torch.zeros(3, dtype=torch.long)), "must be uint8"),
        ((torch.zeros(3, 28, 27, dtype=torch.uint8), torch.zeros(3)), r"\(N, 28, 28\)"),
        ((torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0)), "has no images"),
        ((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(2)), "one whole-number label"),
        ((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(3)), "one whole-number label"),
        ((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.tensor([0, 10, 1])), "from 0 to 9"),
        ("images", "a pair"),
    ],
)
def test_bad_extra_data_is_refused_in_one_sentence(extra, message, train_split, small_test):
    with pytest.raises(ValueError, match=message) as e:
        pipeline.fit(small(), extra=extra, train_split=train_split, test_split=small_test)
    assert "\n" not in str(e.value)


def test_the_oversampling_ratio_is_a_bounded_setting(train_split, small_test):
    extra = (train_split.images[:5], train_split.labels[:5])
    for bad in (0, 101, 1.5):
        with pytest.raises(ValueError, match="oversample must be a whole number from 1 to 100"):
            pipeline.fit(
                small(), extra=extra, oversample=bad, train_split=train_split, test_split=small_test
            )
