"""Learning curves: the epochs rule, the grid plan, a tiny real grid, resuming, summaries, CLI."""

from __future__ import annotations

import json

import pytest

from mnist_models import data as mdata
from mnist_models.__main__ import main
from mnist_models.training import curves
from mnist_models.training import train as mtrain


def test_epochs_rule():
    assert curves.epochs_for(100) == 100  # capped
    assert curves.epochs_for(1_000) == 60
    assert curves.epochs_for(3_000) == 20
    assert curves.epochs_for(60_000) == 2  # the floor
    assert curves.epochs_for(500, budget=1_000, max_epochs=100, min_epochs=1) == 2
    assert curves.epochs_for(60_000, budget=1_000, min_epochs=1) == 1


def test_plan_is_the_full_grid_seed_outermost():
    keys = curves.plan()
    assert len(keys) == 72 == len(set(keys))
    assert {k.subset for k in keys} == {100, 300, 1_000, 3_000, 10_000, 60_000}
    seeds = [k.seed for k in keys]
    assert seeds == sorted(seeds)  # every cell once before any cell twice


@pytest.fixture(scope="module")
def small(test_split):
    return mdata.Split(test_split.images[:1000], test_split.labels[:1000])


@pytest.mark.slow  # trains several small runs
def test_tiny_grid_runs_saves_and_resumes(tmp_path, train_split, small):
    out = tmp_path / "c.json"
    keys = curves.plan(["mlp"], [100], [0], [False])
    logs: list[str] = []
    data = curves.run_grid(
        out,
        keys,
        budget=300,
        max_epochs=5,
        command="cmd",
        threads=1,
        log=logs.append,
        train_split=train_split,
        test_split=small,
    )
    assert len(data["runs"]) == 1
    run = data["runs"][0]
    assert run["epochs"] == 3 and run["subset"] == 100 and run["model"] == "mlp"
    assert 0.3 < run["test_accuracy"] <= 1.0  # learnt something from 100 real images
    assert json.loads(out.read_text()) == data
    assert data["epochs_per_size"] == {"100": 3}
    # Resume: the finished run is skipped, a new seed is added.
    keys2 = curves.plan(["mlp"], [100], [0, 1], [False])
    data2 = curves.run_grid(
        out,
        keys2,
        budget=300,
        max_epochs=5,
        threads=1,
        log=logs.append,
        train_split=train_split,
        test_split=small,
    )
    assert "1 of 2 runs already" in logs[-2]
    assert [r["seed"] for r in data2["runs"]] == [0, 1]
    assert data2["runs"][0] == run
    # Other settings would mix incomparable runs: refused.
    with pytest.raises(curves.CurvesError, match="budget"):
        curves.run_grid(out, keys2, budget=600, max_epochs=5, log=logs.append)
    # A run trained with other settings (the defaults changed since) is redone; others stay.
    assert data2["runs"][0]["settings"]["lr"] == mtrain.defaults("mlp", 100)["lr"]
    edited = json.loads(out.read_text())
    edited["runs"][1]["settings"]["lr"] = 0.5
    out.write_text(json.dumps(edited))
    data3 = curves.run_grid(
        out,
        keys2,
        budget=300,
        max_epochs=5,
        threads=1,
        log=logs.append,
        train_split=train_split,
        test_split=small,
    )
    assert "1 run(s)" in logs[-3] and "1 of 2 runs already" in logs[-2]
    assert data3["runs"][0] == run and data3["runs"][1]["settings"] == data2["runs"][1]["settings"]


def test_bad_results_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(curves.CurvesError, match="not a learning-curves file"):
        curves.load_results(bad)
    assert curves.load_results(tmp_path / "missing.json") is None


def test_summarise_and_crossing():
    runs = [
        {"model": "cnn", "subset": n, "augment": True, "seed": s, "epochs": 5, "test_accuracy": acc}
        for n, accs in ((100, (0.70, 0.72, 0.74)), (1_000, (0.94, 0.96, 0.95)))
        for s, acc in enumerate(accs)
    ]
    cells = curves.summarise({"runs": runs})
    assert [(c.subset, c.n) for c in cells] == [(100, 3), (1_000, 3)]
    assert cells[0].mean == pytest.approx(0.72)
    assert cells[0].std == pytest.approx(0.02)
    assert (cells[1].low, cells[1].high) == (0.94, 0.96)
    assert curves.crossing(cells, "cnn", True, 0.70) == 100  # already reached at the start
    mid = curves.crossing(cells, "cnn", True, 0.835)  # halfway: the geometric mean
    assert mid == pytest.approx(316.2, rel=1e-3)
    assert curves.crossing(cells, "cnn", True, 0.99) is None
    table = curves.summary_table(cells)
    assert "| 1,000 | 5 |" in table and "95.00% ± 1.00%" in table


@pytest.mark.slow  # trains several small runs
def test_cli_curves(tmp_path, capsys):
    out = tmp_path / "cli.json"
    main(
        [
            "curves",
            "--out",
            str(out),
            "--models",
            "mlp",
            "--sizes",
            "100",
            "--seeds",
            "1",
            "--augment",
            "off",
            "--budget",
            "200",
            "--max-epochs",
            "2",
            "--threads",
            "1",
        ]
    )
    data = json.loads(out.read_text())
    assert data["command"].startswith("python -m mnist_models")
    assert len(data["runs"]) == 1 and data["budget"] == 200
    assert "| 100 | 2 |" in capsys.readouterr().out


def test_training_note_names_every_default_and_override():
    note = curves.training_note()
    assert "cnn: adam peak lr 0.01, batch 128, label smoothing 0.1" in note
    assert "(from 20,000 images: peak lr 0.003, label smoothing 0)" in note
    assert "(from 20,000 images: peak lr 0.002, batch 512)" in note
