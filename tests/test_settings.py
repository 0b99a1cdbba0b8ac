"""The settings table: one set of bounds for the loop, the command line and the Retrain page."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

import pytest

from app_pages import retrain_form
from mnist_models.cli import args as cli_args
from mnist_models.nets import metadata
from mnist_models.training import settings
from mnist_models.training.train import TrainConfig

CONFIG_SETTINGS = [s for s in settings.SETTINGS.values() if s.name != "oversample"]


def edges(s: settings.Setting) -> list:
    """Values on and just past each bound of a setting."""
    step = 1 if s.whole else 1e-9
    values = [s.lo - step, s.lo, s.lo + step]
    values += [s.hi - step, s.hi, s.hi + step] if s.hi is not None else [10**6, math.inf]
    return values


@pytest.mark.parametrize("s", CONFIG_SETTINGS, ids=lambda s: s.name)
def test_what_training_takes_the_checkpoint_schema_reads(s: settings.Setting) -> None:
    """A run the loop accepts is saved with metadata that validates: the schema's range of
    each train_config field holds the table's."""
    spec = metadata.TRAIN_CONFIG.fields[s.name]
    assert spec.whole == s.whole and spec.lo <= s.lo
    assert spec.hi >= (1e300 if s.hi is None else s.hi)  # no bound: any finite number


@pytest.mark.parametrize("s", CONFIG_SETTINGS, ids=lambda s: s.name)
def test_the_loop_and_the_command_line_take_the_same_values(s: settings.Setting) -> None:
    flag = cli_args.setting(s.name)
    for v in edges(s):
        try:
            TrainConfig(model="mlp", **{s.name: v}).resolved()
            loop = True
        except ValueError as exc:
            loop = False
            assert str(exc).startswith(f"{s.label} must be {s.rule}, not "), exc
        try:
            flag(str(v))
            command = True
        except argparse.ArgumentTypeError as exc:
            command = False
            assert str(exc) == f"must be {s.rule}, not {v}"
        assert loop == command == s.allows(v), (s.name, v)


@pytest.mark.parametrize(
    ("name", "label"), [("subset", "Training images"), ("epochs", "Epochs"), ("seed", "The seed")]
)
def test_the_page_takes_the_same_values(name: str, label: str) -> None:
    s = settings.get(name)
    for v in edges(s):
        wrong = retrain_form.problems(
            **{"subset": 1000, "epochs": 10, "seed": 0, name: v}  # the others fine
        )
        assert (wrong == []) == s.allows(v), (name, v)
        if wrong:
            assert wrong == [f"{label} must be {s.rule}, not {v:,}."]


def test_the_page_says_what_an_empty_or_fractional_field_must_be() -> None:
    rule = settings.get("subset").rule
    assert retrain_form.problems(None, 10, 0) == [f"Training images must be {rule}."]
    assert retrain_form.problems(1.5, 10, 0) == [f"Training images must be {rule}, not 1.5."]
    assert retrain_form.problems(1000.0, 10.0, 0.0) == []  # what a number field may hold


def test_the_config_defaults_are_the_tables() -> None:
    cfg = {f.name: f.default for f in fields(TrainConfig)}
    for s in CONFIG_SETTINGS:
        assert cfg[s.name] == s.default, s.name


def test_one_cap_on_epochs_and_one_on_seeds() -> None:
    assert retrain_form.EPOCHS_MAX == settings.get("epochs").hi == 1_000
    assert retrain_form.SEED_MAX == settings.get("seed").hi == 2**32 - 1
    assert settings.get("epochs").rule == "a whole number from 1 to 1,000"
    assert settings.get("lr").rule == "a finite number above 0"
    assert settings.get("label_smoothing").rule == "a number in [0, 1)"
