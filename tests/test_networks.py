"""The network table: a third network added in one place is trained, evaluated, saved,
listed and loaded back by the same code as the two shipped ones."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mnist_models import files
from mnist_models.__main__ import main as cli_main
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.nets.evaluate import evaluate
from mnist_models.reading import ood, saliency
from mnist_models.reading import read as mread
from mnist_models.training import curves
from mnist_models.training import train as mtrain


class Tiny(nn.Module):
    """A linear classifier: 784 -> 10 (7,850 parameters)."""

    def __init__(self, hidden: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture()
def tiny_network():
    """A third network in the table for one test, removed after it."""
    net = networks.register(
        networks.Network(
            key="tiny",
            name="Linear",
            colour="#2ca02c",
            cls=Tiny,
            channels_last=False,
            defaults={"optimizer": "sgd", "lr": 0.05, "batch_size": 64, "label_smoothing": 0.0},
            large={},
            train_rate=(20_000.0, 10_000.0),
            eval_rate=50_000.0,
            kwarg_bounds={"hidden": (0, 0)},
        )
    )
    yield net
    networks.unregister("tiny")


def test_a_third_network_in_the_table_goes_everywhere(
    tiny_network, tmp_path, monkeypatch, train_split, test_split, capsys
):
    monkeypatch.setenv(files.HOME_ENV, str(tmp_path))
    assert networks.keys() == ("mlp", "cnn", "tiny")
    assert "tiny" in registry.ARCHS and registry.DEFAULT_ACTIVE["tiny"] == ""  # nothing shipped

    # Trained with its own defaults from the table.
    cfg = mtrain.TrainConfig(model="tiny", subset=600, epochs=2, threads=1)
    assert cfg.resolved().optimizer == "sgd" and cfg.resolved().batch_size == 64
    result = mtrain.train(cfg, train_split=train_split, test_split=test_split)
    assert isinstance(result.model, Tiny)

    # Evaluated and saved with the one metadata builder, under the registry's home.
    report = evaluate(
        result.model, test_split.images, test_split.labels, memory_format=tiny_network.memory_format
    )
    assert report.accuracy > 0.5  # a linear model on 600 digits: well above chance
    meta = checkpoint.training_metadata(result, report, source="cli")
    assert meta["title"] == "Linear (600 balanced images, 2 epochs)"
    assert meta["command"].startswith("python -m mnist_models train --model tiny --subset 600")
    path = registry.new_version_path("tiny", 600, "20260101-000000")
    checkpoint.save(result.model, path, "tiny", meta)

    # Listed by the registry, made active, and loaded back with the same weights.
    listed = registry.list_versions(arch="tiny")
    assert [v.id for v in listed] == [f"trained/{path.stem}"] and listed[0].ok
    registry.set_active("tiny", listed[0].id)
    assert registry.active_version("tiny")[0].id == listed[0].id
    model, loaded = checkpoint.load(path)
    assert isinstance(model, Tiny) and loaded["test_accuracy"] == pytest.approx(report.accuracy)
    for k, v in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)

    # Read with the networks in use once chosen, without a not-a-digit verdict of its own.
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn", "tiny"] and warnings == []
    x = test_split.images[:1].float().div(255).unsqueeze(1)
    assert mread.read(_Pre(x), models).networks["tiny"].verdict is None
    assert ood.STORE.get(loaded["sha256"], "tiny") is None
    with pytest.raises(ValueError, match=r"feature maps exist only for .*\(ConvNet\)"):
        saliency.feature_maps(model, x)

    # The command line and the learning curves know it too.
    cli_main(["evaluate", str(path), "--json"])
    assert '"model": "tiny"' in capsys.readouterr().out
    assert "tiny: sgd peak lr 0.05" in curves.training_note()
    assert {k.model for k in curves.plan(sizes=(100,), seeds=(0,))} == {"mlp", "cnn", "tiny"}


class _Pre:
    """What read() needs of a preprocessed drawing: its tensor."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def tensor(self) -> torch.Tensor:
        return self.x


def test_a_third_network_with_nothing_in_use_is_not_read(tiny_network, tmp_path, monkeypatch):
    """Nothing shipped, nothing chosen: the networks in use are the two shipped ones."""
    monkeypatch.setenv(files.HOME_ENV, str(tmp_path))
    with pytest.raises(registry.NoVersion, match="no Linear version is in use: none is chosen"):
        registry.active_version("tiny")
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn"] and warnings == []
    # A choice that broke is said, and the network is left out (it has no shipped fallback).
    (tmp_path / "active.json").write_text(json.dumps({"tiny": "trained/gone"}))
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn"]
    assert len(warnings) == 1 and "trained/gone" in warnings[0] and "none is shipped" in warnings[0]


def test_the_table_says_what_the_not_a_digit_check_and_the_feature_maps_read():
    assert networks.get("mlp").ood_layers == (1, 2) and networks.get("cnn").ood_layers == (0, 1)
    assert [k for k, n in networks.NETWORKS.items() if n.feature_maps] == ["cnn"]


def test_the_table_is_back_to_two_networks_after_the_test():
    assert networks.keys() == ("mlp", "cnn")
    with pytest.raises(ValueError, match="unknown model 'tiny'; choose from mlp, cnn"):
        networks.get("tiny")


def test_arguments_are_checked_against_the_bounds_before_building():
    with pytest.raises(ValueError, match="'hidden' must be a whole number from 1 to 4096"):
        networks.build("mlp", hidden=20_000)
    with pytest.raises(ValueError, match="takes no argument 'depth'"):
        networks.build("cnn", depth=3)
    assert networks.get("cnn").memory_format == torch.channels_last
    assert networks.get("mlp").memory_format == torch.contiguous_format
