"""The network table: a third network added in one place is trained, evaluated, saved,
listed, loaded back, read and driven from the command line by the same code as the two
shipped ones; the not-a-digit check says plainly that it has no detector for it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnist_models import cli
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.reading import ood, pen, raster, saliency
from mnist_models.reading import read as mread
from mnist_models.training import curves, ood_fit, pipeline
from mnist_models.training import train as mtrain

X_MARK = [[[60, 60], [270, 280]], [[270, 60], [60, 280]]]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_third_network_trains_saves_and_loads(third_network, app_home, train_split, test_split):
    assert networks.keys() == ("mlp", "cnn", "tiny")
    assert "tiny" in registry.ARCHS and registry.DEFAULT_ACTIVE["tiny"] == ""  # nothing shipped

    # Trained with its own defaults from the table, through the one pipeline.
    cfg = mtrain.TrainConfig(model="tiny", subset=600, epochs=2, threads=1)
    assert cfg.resolved().optimizer == "sgd" and cfg.resolved().batch_size == 64
    fitted = pipeline.fit(cfg, train_split=train_split, test_split=test_split)
    assert isinstance(fitted.model, third_network.cls)
    assert fitted.report.accuracy > 0.5  # a linear model on 600 digits: well above chance
    meta = fitted.metadata
    assert meta["title"] == "Linear (600 balanced images, 2 epochs)"
    assert meta["command"].startswith("python -m mnist_models train --model tiny --subset 600")
    assert meta["test_accuracy"] == fitted.report.accuracy
    path = registry.new_version_path("tiny", 600, "20260101-000000")
    fitted.save(path)

    # Listed by the registry, made active, and loaded back with the same weights.
    listed = registry.list_versions(arch="tiny")
    assert [v.id for v in listed] == [f"trained/{path.stem}"] and listed[0].ok
    registry.set_active("tiny", listed[0].id)
    assert registry.active_version("tiny")[0].id == listed[0].id
    model, loaded = checkpoint.load(path)
    assert isinstance(model, third_network.cls)
    assert loaded["test_accuracy"] == pytest.approx(meta["test_accuracy"])
    for k, v in fitted.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)

    # The learning curves know it too.
    assert "tiny: sgd peak lr 0.05" in curves.training_note()
    assert {k.model for k in curves.plan(sizes=(100,), seeds=(0,))} == {"mlp", "cnn", "tiny"}


def test_a_third_network_with_nothing_in_use_is_not_read(third_network, app_home):
    """Nothing shipped, nothing chosen: the networks in use are the two shipped ones."""
    with pytest.raises(registry.NoVersion, match="no Linear version is in use: none is chosen"):
        registry.active_version("tiny")
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn"] and warnings == []
    # A choice that broke is said, and the network is left out (it has no shipped fallback).
    (app_home / "active.json").write_text(json.dumps({"tiny": "trained/gone"}))
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn"]
    assert len(warnings) == 1 and "trained/gone" in warnings[0] and "none is shipped" in warnings[0]


def test_a_third_network_in_use_is_read_without_a_detector(third_network_in_use, test_split):
    net, vid = third_network_in_use
    models, warnings = mread.load_active()
    assert list(models) == ["mlp", "cnn", "tiny"] and warnings == []
    assert models["tiny"][1].id == vid and isinstance(models["tiny"][0], net.cls)

    # A real test digit: the linear model reads it, with no not-a-digit verdict of its own.
    label = int(test_split.labels[0])
    reading = mread.read(raster.from_image(test_split.images[0].numpy()), models)
    tiny = reading.networks["tiny"]
    assert tiny.prediction.digit == label and tiny.verdict is None
    assert reading.not_digit is False  # the shipped networks' detectors still decide

    # The not-a-digit check: no detector for it, and none can be fitted; said in words.
    assert ood.STORE.get(models["tiny"][1].meta["sha256"], "tiny") is None
    with pytest.raises(ValueError, match="the Linear has no layers for the not-a-digit check"):
        ood_fit.layers_of("tiny")
    with pytest.raises(ValueError, match=r"feature maps exist only for .*\(ConvNet\)"):
        saliency.feature_maps(
            models["tiny"][0], raster.from_image(test_split.images[0].numpy()).tensor()
        )
    x_mark = mread.read(pen.from_strokes([np.asarray(p, dtype=float) for p in X_MARK]), models)
    assert x_mark.not_digit is True and x_mark.networks["tiny"].verdict is None
    assert x_mark.to_json()["networks"]["tiny"]["not_digit"] is None


def test_a_third_network_on_the_command_line(third_network, app_home, tmp_path, capsys):
    out = registry.versions_dir() / "tiny.pt"  # saved straight into the app's versions
    code, stdout, err = run_cli(
        capsys, "train", "--model", "tiny", "--subset", "600", "--epochs", "2", "--threads", "1",
        "--eval-every", "0", "--json", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    trained = json.loads(stdout)
    assert trained["model"] == "tiny" and trained["test_accuracy"] > 0.5
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["architecture"] == "tiny" and meta["parameters"] == 7_850

    code, stdout, err = run_cli(capsys, "evaluate", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["model"] == "tiny"
    assert json.loads(stdout)["test_accuracy"] == pytest.approx(trained["test_accuracy"], abs=1e-4)

    # Chosen in the app home, it is read with the others; its verdict is "no detector".
    registry.set_active("tiny", "trained/tiny")
    drawing = tmp_path / "x.json"
    drawing.write_text(json.dumps({"items": [{"paths": X_MARK}]}))
    code, stdout, err = run_cli(capsys, "read", str(drawing), "--json")
    assert code == 0, err
    tiny = json.loads(stdout)["networks"]["tiny"]
    assert tiny["version"] == "trained/tiny" and tiny["not_digit"] is None
    code, stdout, err = run_cli(capsys, "read", str(drawing))
    assert code == 0, err
    assert "Linear " in stdout and "no not-a-digit detector" in stdout

    # Fitting a detector for it is refused in one line, before any work.
    code, stdout, err = run_cli(capsys, "ood", "fit", str(out), "--out", str(tmp_path / "ood"))
    assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1
    assert "no layers for the not-a-digit check" in err
    assert not (tmp_path / "ood").exists()


def test_the_table_is_back_to_two_networks_after_the_test():
    assert networks.keys() == ("mlp", "cnn")
    with pytest.raises(ValueError, match="unknown model 'tiny'; choose from mlp, cnn"):
        networks.get("tiny")


def test_the_table_says_what_the_not_a_digit_check_and_the_feature_maps_read():
    assert networks.get("mlp").ood_layers == (1, 2) and networks.get("cnn").ood_layers == (0, 1)
    assert [k for k, n in networks.NETWORKS.items() if n.feature_maps] == ["cnn"]


def test_arguments_are_checked_against_the_bounds_before_building():
    with pytest.raises(ValueError, match="'hidden' must be a whole number from 1 to 4096"):
        networks.build("mlp", hidden=20_000)
    with pytest.raises(ValueError, match="takes no argument 'depth'"):
        networks.build("cnn", depth=3)
    with pytest.raises(ValueError, match=r"not \[1, 1, .*…$") as e:  # a long value, cut short
        networks.build("mlp", hidden=[1] * 1000)
    assert len(str(e.value)) < 120
    assert networks.get("cnn").memory_format == torch.channels_last
    assert networks.get("mlp").memory_format == torch.contiguous_format
