"""Calibration: confusion matrix, ECE, NLL, Brier, temperature fitting, metadata writes."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from mnist_models import data as mdata
from mnist_models.__main__ import main
from mnist_models.nets import checkpoint
from mnist_models.nets.evaluate import confusion_matrix
from mnist_models.nets.evaluate import logits as model_logits
from mnist_models.training import calibration as cal
from mnist_models.training.train import TrainConfig, train


def test_confusion_matrix_against_a_hand_count():
    y_true = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2, 9])
    y_pred = torch.tensor([0, 1, 1, 1, 2, 2, 2, 0, 2, 4])
    cm = confusion_matrix(y_true, y_pred)
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[0, 0], expected[0, 1] = 1, 1
    expected[1, 1], expected[1, 2] = 2, 1
    expected[2, 2], expected[2, 0] = 3, 1
    expected[9, 4] = 1
    assert torch.equal(cm, expected)
    assert int(cm.sum()) == 10 and int(cm.trace()) == 6


def onehot_probs(conf: float, n: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n answers of confidence conf (class 0 on top), the first `right` of them correct."""
    p = torch.full((n, 10), (1 - conf) / 9, dtype=torch.float64)
    p[:, 0] = conf
    labels = torch.tensor([0] * right + [1] * (n - right))
    return p, labels


def test_ece_on_constructed_examples():
    p, y = onehot_probs(0.8, 10, 8)  # 80% sure, 80% right: perfectly calibrated
    assert cal.ece(p, y) == pytest.approx(0.0, abs=1e-12)
    p, y = onehot_probs(0.9, 10, 6)  # 90% sure, 60% right: gap 0.3
    assert cal.ece(p, y) == pytest.approx(0.3)
    # Two bins: 0.95-sure all right (gap 0.05), 0.55-sure none right (gap 0.55), 3:1.
    p1, y1 = onehot_probs(0.95, 30, 30)
    p2, y2 = onehot_probs(0.55, 10, 0)
    p, y = torch.cat([p1, p2]), torch.cat([y1, y2])
    assert cal.ece(p, y) == pytest.approx(0.75 * 0.05 + 0.25 * 0.55)
    bins = cal.reliability(p, y)
    assert len(bins) == 15 and sum(b.count for b in bins) == 40
    full = [b for b in bins if b.count]
    assert [b.count for b in full] == [10, 30]
    assert full[0].accuracy == 0 and full[1].accuracy == 1
    assert math.isnan(bins[0].accuracy)  # empty bin


def test_reliability_bin_edges():
    p = torch.zeros(3, 10, dtype=torch.float64)
    p[0, 0], p[1, 0], p[2, 0] = 1.0, 14 / 15, 14 / 15 + 1e-9
    p[:, 1] = 1 - p[:, 0]
    bins = cal.reliability(p, torch.zeros(3, dtype=torch.long))
    assert bins[-1].count == 2 and bins[-2].count == 1  # (13/15, 14/15] holds 14/15


def test_nll_and_brier():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    p = torch.softmax(logits.double(), 1)
    expected = -(math.log(p[0, 0]) + math.log(p[1, 2])) / 2
    assert cal.nll(logits, labels) == pytest.approx(expected)
    assert cal.nll(logits, labels, 2.0) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits / 2, labels))
    )
    assert cal.brier(torch.eye(10, dtype=torch.float64), torch.arange(10)) == 0
    assert cal.brier(torch.full((4, 10), 0.1), torch.zeros(4, dtype=torch.long)) == pytest.approx(
        0.9
    )


def test_fit_temperature_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 10, generator=g) * 2
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=g).flatten()
    t = cal.fit_temperature(z * 3, labels)  # logits three times too large
    assert t == pytest.approx(3.0, rel=0.05)
    assert cal.nll(z * 3, labels, t) < cal.nll(z * 3, labels)


@pytest.mark.slow  # trains 40 epochs
def test_temperature_fit_improves_nll_of_an_overconfident_real_network(train_split, small_test):
    """An MLP trained hard on the first 300 images is overconfident; T fitted on the last
    2,000 training images (truly held out here; never the test set) lowers its NLL and
    ECE on test digits."""
    res = train(
        TrainConfig(
            model="mlp",
            subset=300,
            first=True,
            epochs=40,
            seed=0,
            eval_every=0,
            threads=1,
            device="cpu",
        ),
        train_split=train_split,
        test_split=small_test,
    )
    held = mdata.Split(train_split.images[-2000:], train_split.labels[-2000:])
    xh, yh = cal.held_out(held, n=2000, augment=False)
    t = cal.fit_temperature(model_logits(res.model, xh), yh)
    assert t > 1.2  # overconfident: the logits need shrinking
    lt = model_logits(res.model, small_test.images)
    before = cal.figures(lt, small_test.labels, 1.0)
    after = cal.figures(lt, small_test.labels, t)
    assert after.nll < before.nll - 0.05
    assert after.ece < before.ece
    assert after.accuracy == before.accuracy  # scaling never changes the answer


@pytest.mark.slow  # evaluates the ConvNet on 20,000 images (~20 s on two busy cores)
def test_calibrate_writes_temperature_and_keeps_weights_valid(tmp_path, root, capsys):
    src = root / "weights" / "cnn.pt"
    dst = tmp_path / "cnn.pt"
    shutil.copy(src, dst)
    meta = json.loads(src.with_suffix(".json").read_text())
    for key in ("temperature", "calibration"):  # start from an uncalibrated checkpoint
        meta.pop(key, None)
    dst.with_suffix(".json").write_text(json.dumps(meta))
    before = dst.read_bytes()
    main(["calibrate", str(dst), "--dry-run"])
    assert "temperature" not in json.loads(dst.with_suffix(".json").read_text())
    out = capsys.readouterr().out
    assert "ECE" in out and "test after" in out
    result = cal.calibrate(dst)
    model, meta = checkpoint.load(dst)  # sha256 still matches the untouched weights
    assert dst.read_bytes() == before
    assert meta["temperature"] == result["temperature"] > 0
    assert meta["calibration"]["fitted_temperature"] == result["fitted_temperature"]
    figures = meta["calibration"]["test"]["before" if meta["temperature"] == 1.0 else "after"]
    assert figures["ece"] < 0.005  # the ConvNet's target, with the stored temperature
    assert meta["title"]  # the rest of the metadata is kept
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file
