"""predict(): one drawing through one network, on one thread."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from mnist_models import data as mdata
from mnist_models.cpu import one_thread
from mnist_models.nets import checkpoint
from mnist_models.reading.predict import NOT_SURE_BELOW, predict

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def test_predict_reads_real_digits_and_leaves_the_thread_count_alone(test_split) -> None:
    model, _ = checkpoint.load(WEIGHTS / "cnn.pt")
    before = torch.get_num_threads()
    for i in range(20):
        p = predict(model, mdata.to_float(test_split.images[i : i + 1]))
        assert p.digit == int(test_split.labels[i])
        assert abs(sum(p.probs) - 1) < 1e-5 and p.confidence == max(p.probs)
        assert p.sure == (p.confidence >= NOT_SURE_BELOW) and p.ms > 0
    assert torch.get_num_threads() == before


def test_temperature_changes_confidence_not_the_answer(test_split) -> None:
    model, _ = checkpoint.load(WEIGHTS / "cnn_first1000.pt")
    x = mdata.to_float(test_split.images[:1])
    raw, sharp = predict(model, x), predict(model, x, temperature=0.5)
    assert raw.digit == sharp.digit and sharp.confidence > raw.confidence


def test_one_thread_inside_and_restored_after_even_on_error() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    try:
        with one_thread():
            seen.append(torch.get_num_threads())
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert seen == [1] and torch.get_num_threads() == before
    # Another thread (Streamlit runs each script run in one) can use it too.
    t = threading.Thread(target=lambda: seen.append(predict_threads()))
    t.start()
    t.join()
    assert seen[-1] == 1 and torch.get_num_threads() == before


def predict_threads() -> int:
    with one_thread():
        return torch.get_num_threads()
