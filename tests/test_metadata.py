"""The metadata schema: real metadata passes, every bad field is named in one line."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mnist_models.nets import checkpoint, metadata
from mnist_models.nets.metadata import CheckpointError, MetadataError, validate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "weights").glob("*.json"))


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    """The shipped ConvNet's metadata: every field the app writes, calibration included."""
    return json.loads((ROOT / "weights" / "cnn.json").read_text())


def with_field(meta: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of meta with one (dotted, [index]-free) field set or, for ..., removed."""
    out = copy.deepcopy(meta)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_metadata_is_valid(path: Path) -> None:
    meta = json.loads(path.read_text())
    assert validate(meta) is meta


def test_minimal_metadata_is_valid() -> None:
    assert validate({"architecture": "mlp", "sha256": "0" * 64}) is not None


NAN, INF = float("nan"), float("inf")

BAD = [
    # (field, value, message after the field name)
    ("test_accuracy", "high", "must be a number from 0 to 1, not 'high'"),
    ("test_accuracy", 1.5, "must be a number from 0 to 1, not 1.5"),
    ("test_accuracy", NAN, "must be a number from 0 to 1, not nan"),
    ("test_accuracy", True, "must be a number from 0 to 1, not true"),
    ("test_accuracy", None, "must be a number from 0 to 1, not null"),
    ("temperature", "abc", "must be a number from 0.01 to 100, not 'abc'"),
    ("temperature", 0, "must be a number from 0.01 to 100, not 0"),
    ("temperature", -1, "must be a number from 0.01 to 100, not -1"),
    ("temperature", NAN, "must be a number from 0.01 to 100, not nan"),
    ("temperature", INF, "must be a number from 0.01 to 100, not inf"),
    ("temperature", 1e-300, "must be a number from 0.01 to 100, not 1e-300"),
    (
        "arch_kwargs",
        {"hidden": 20000},
        "are out of bounds: ConvNet argument 'hidden' must be a "
        "whole number from 1 to 4096, not 20000",
    ),
    ("arch_kwargs", {"depth": 3}, "are out of bounds: ConvNet takes no argument 'depth'"),
    (
        "arch_kwargs",
        {"dropout": 1.0},
        "are out of bounds: ConvNet argument 'dropout' must be a number from 0.0 to 0.95, not 1.0",
    ),
    ("arch_kwargs", [20], "must be an object, not a list"),
    ("architecture", "resnet", "'resnet' is unknown (known: mlp, cnn)"),
    ("architecture", 3, "must be text of at most 64 characters, not 3"),
    ("sha256", "xyz", "must be 64 lowercase hexadecimal digits, not 'xyz'"),
    ("format", 2, "must be a whole number from 1 to 1, not 2"),
    ("title", "x" * 5000, "must be text of at most 1,000 characters, not 5,000 characters"),
    ("title", ["a"], "must be text of at most 1,000 characters, not a list"),
    ("created", "yesterday", "must be an ISO 8601 time, not 'yesterday'"),
    ("parameters", -1, "must be a whole number from 0 to 1e+15, not -1"),
    ("parameters", 1.5, "must be a whole number from 0 to 1e+15, not 1.5"),
    ("parameters", 10**400, "must be a whole number from 0 to 1e+15, not 1" + "0" * 38 + "…"),
    ("test_accuracy", -(10**400), "must be a number from 0 to 1, not -1" + "0" * 37 + "…"),
    ("train_seconds", INF, "must be a number from 0 to 1e+09, not inf"),
    ("command", "x" * 9000, "must be text of at most 8,000 characters, not 9,000 characters"),
    ("per_class_accuracy", [0.5] * 9, "must have 10 entries, not 9"),
    ("train_config", "fast", "must be an object, not 'fast'"),
    ("train_config.subset", "all", "must be a whole number from 1 to 60000, not 'all'"),
    ("train_config.subset", 0, "must be a whole number from 1 to 60000, not 0"),
    ("train_config.epochs", 1.5, "must be a whole number from 1 to 100000, not 1.5"),
    ("train_config.augment", "yes", "must be true or false, not 'yes'"),
    ("train_config.model", "resnet", "'resnet' is unknown"),
    ("history", {"a": 1}, "must be a list, not an object"),
    ("history.3.loss", "nan", "must be a number from 0 to 1e+06, not 'nan'"),
    ("history.3.test_accuracy", 2, "must be a number from 0 to 1 or null, not 2"),
    ("calibration.thresholds.2.wrong_when_sure", ..., "has no 'wrong_when_sure'"),
    ("calibration.thresholds.2.threshold", "0.7", "must be a number from 0 to 1, not '0.7'"),
    ("calibration.test.after.ece", -0.1, "must be a number from 0 to 1, not -0.1"),
    ("architecture", ..., "has no 'architecture'"),
    ("sha256", ..., "has no 'sha256'"),
]


def shown_field(dotted: str, value: Any) -> str:
    """How an error names a field: history.3.loss -> history[3].loss; a missing one's parent."""
    parts = dotted.split(".")
    if value is ...:
        parts = parts[:-1] or ["metadata"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


@pytest.mark.parametrize(
    ("dotted", "value", "message"), BAD, ids=[f"{d}={str(v)[:20]}" for d, v, _ in BAD]
)
def test_bad_field_is_named_in_one_line(
    good: dict[str, Any], dotted: str, value: Any, message: str
) -> None:
    with pytest.raises(MetadataError) as e:
        validate(with_field(good, dotted, value))
    assert str(e.value) == f"{shown_field(dotted, value)} {message}"
    assert e.value.field == shown_field(dotted, value)
    assert isinstance(e.value, CheckpointError)  # what pages and the command line catch
    assert str(pickle.loads(pickle.dumps(e.value))) == str(e.value)


@pytest.mark.parametrize("meta", [[1, 2], "text", None, 3])
def test_metadata_that_is_not_an_object(meta: Any) -> None:
    with pytest.raises(MetadataError, match="^metadata is not a JSON object$"):
        validate(meta)


def test_unknown_fields_are_kept_unchecked(good: dict[str, Any]) -> None:
    meta = with_field(good, "future_field", {"anything": [1, "two"]})
    assert validate(meta)["future_field"] == {"anything": [1, "two"]}


def test_long_bad_value_is_cut_in_the_message(good: dict[str, Any]) -> None:
    with pytest.raises(MetadataError) as e:
        validate(with_field(good, "test_accuracy", "line one\n" + "x" * 10_000))
    assert "\n" not in str(e.value) and len(str(e.value)) < 120


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hidden": "x" * 5000},
        {"hidden": [[0] * 300] * 20},
        {"hidden": {"k" * 500: "line\n" * 100}},
        {"d" * 2000: 3},
    ],
    ids=["long text", "long list", "long object", "long name"],
)
def test_a_long_architecture_argument_is_cut_in_the_message(
    good: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    """What the property test below once found: the whole value quoted, past 400 characters."""
    with pytest.raises(MetadataError, match="^arch_kwargs are out of bounds: ConvNet ") as e:
        validate(with_field(good, "arch_kwargs", kwargs))
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("temperature", "abc", "temperature must be a number from 0.01 to 100, not 'abc'"),
        ("arch_kwargs", {"hidden": 20000}, "arch_kwargs are out of bounds"),
    ],
)
def test_read_metadata_names_the_file_and_field(
    tmp_path: Path, good: dict[str, Any], dotted: str, value: Any, message: str
) -> None:
    """A file with a bad field: the error names the file, then the field (json NaN included)."""
    path = tmp_path / "net.pt"
    checkpoint.meta_path(path).write_text(json.dumps(with_field(good, dotted, value)))
    with pytest.raises(MetadataError, match=rf"^{tmp_path}/net\.json: {message}") as e:
        checkpoint.read_metadata(path)
    assert e.value.field == dotted


def test_nan_written_by_json_is_refused(tmp_path: Path, good: dict[str, Any]) -> None:
    """Python's json reads the bare tokens NaN and Infinity; the schema refuses both."""
    path = tmp_path / "net.pt"
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        text = json.dumps(with_field(good, "temperature", 12345.5)).replace("12345.5", token)
        checkpoint.meta_path(path).write_text(text)
        with pytest.raises(MetadataError, match="temperature must be a number from 0.01 to 100"):
            checkpoint.read_metadata(path)


def test_weights_size_limit_of_the_largest_allowed_networks() -> None:
    """The limits follow the table's bounds (the largest ConvNet is ~200 MB), without allocating."""
    mlp = metadata.weights_bytes("mlp", {"hidden": 4096})
    cnn = metadata.weights_bytes("cnn", {"c1": 256, "c2": 256, "hidden": 4096})
    assert mlp == 4 * (784 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10)
    assert cnn == 4 * (
        256 * 9 + 256 + 256 * 256 * 9 + 256 + 256 * 49 * 4096 + 4096 + 4096 * 10 + 10
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
PATHS = (
    [*metadata.FIELDS.fields]
    + [f"train_config.{k}" for k in metadata.TRAIN_CONFIG.fields]
    + [f"calibration.{k}" for k in metadata.CALIBRATION.fields]
    + ["history.0", "history.0.loss", "calibration.thresholds.0", "arch_kwargs.hidden"]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON), max_size=3))
def test_any_values_give_the_metadata_or_one_metadata_error(
    good: dict[str, Any], changes: list
) -> None:
    """Whatever JSON value lands in whatever field: valid, or one MetadataError, no other error."""
    meta = good
    for dotted, value in changes:
        try:
            meta = with_field(meta, dotted, value)
        except (KeyError, IndexError, TypeError, ValueError):
            assume(False)  # an earlier change replaced this field's parent
    try:
        assert validate(meta) is meta
    except MetadataError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_document_gives_the_metadata_or_one_metadata_error(doc: Any) -> None:
    try:
        validate(doc)
    except MetadataError as exc:
        assert "\n" not in str(exc)
