"""The checkpoint metadata schema: every field a page or command reads, its type and its range.

A checkpoint's JSON comes from a file anyone with access to the folder may
have edited, so it is checked before anything reads it: one bad field marks
that version broken (with the reason) instead of crashing a page later.
Fields not listed here are kept unchecked (the file's size bounds them); list
a field here before any code reads it.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from mnist_models.data import SIZES
from mnist_models.nets import networks
from mnist_models.text import plain

FORMAT = 1  # the newest metadata format this code reads
METADATA_MAX_BYTES = 2 * 1024 * 1024  # the shipped files are 10-21 kB
# Serialisation overhead allowed over a checkpoint's own float32 weights:
# torch.save adds ~3 kB of zip headers per file; a 1/8 margin covers future
# formats with room to spare, and still refuses a file of twice the size.
WEIGHTS_SLACK_BYTES = 1024 * 1024
WEIGHTS_SLACK_FRACTION = 0.125


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or mismatched; the message names the file."""


class MetadataError(CheckpointError):
    """A metadata field with the wrong type or value; the message names the field."""

    def __init__(self, where: str, reason: str, file: object = None) -> None:
        text = f"{where} {reason}" if where else reason
        super().__init__(f"{file}: {text}" if file is not None else text)
        self.field = where  # "temperature", "history[3].loss"; "" for the whole document
        self.reason = reason
        self.file = file

    def __reduce__(self) -> tuple:  # picklable, e.g. from a training process
        return type(self), (self.field, self.reason, self.file)


def _show(value: Any) -> str:
    """A wrong value, short and on one line, for an error message."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return repr(plain(value, 40))
    if isinstance(value, (int, float)):
        return plain(repr(value), 40)
    return (
        "a list"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )


# --- kinds of value ---------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi] (or (lo, hi] when above=True); whole: an integer."""

    lo: float
    hi: float
    whole: bool = False
    above: bool = False
    nullable: bool = False

    def check(self, v: Any, where: str) -> None:
        if v is None and self.nullable:
            return
        ok_type = isinstance(v, int) if self.whole else isinstance(v, (int, float))
        # isfinite() only for floats: a 400-digit integer would overflow it.
        if (
            isinstance(v, bool)
            or not ok_type
            or (isinstance(v, float) and not math.isfinite(v))
            or not (self.lo < v if self.above else self.lo <= v)
            or not v <= self.hi
        ):
            kind = "a whole number" if self.whole else "a number"
            span = (
                f"above {self.lo:g} and at most {self.hi:g}"
                if self.above
                else f"from {self.lo:g} to {self.hi:g}"
            )
            null = " or null" if self.nullable else ""
            raise MetadataError(where, f"must be {kind} {span}{null}, not {_show(v)}")


@dataclass(frozen=True)
class Text:
    """A string of at most max_len characters, matching pattern if one is given."""

    max_len: int
    pattern: str | None = None
    what: str = ""  # how to describe the pattern in a message
    nullable: bool = False

    def check(self, v: Any, where: str) -> None:
        if v is None and self.nullable:
            return
        if not isinstance(v, str) or len(v) > self.max_len:
            shown = f"{len(v):,} characters" if isinstance(v, str) else _show(v)
            raise MetadataError(
                where, f"must be text of at most {self.max_len:,} characters, not {shown}"
            )
        if self.pattern and not re.fullmatch(self.pattern, v):
            raise MetadataError(where, f"must be {self.what}, not {_show(v)}")


@dataclass(frozen=True)
class Flag:
    """true or false."""

    def check(self, v: Any, where: str) -> None:
        if not isinstance(v, bool):
            raise MetadataError(where, f"must be true or false, not {_show(v)}")


@dataclass(frozen=True)
class Stamp:
    """An ISO 8601 date and time, as save() writes it."""

    def check(self, v: Any, where: str) -> None:
        Text(40).check(v, where)
        try:
            _dt.datetime.fromisoformat(v)
        except ValueError:
            raise MetadataError(where, f"must be an ISO 8601 time, not {_show(v)}") from None


@dataclass(frozen=True)
class Items:
    """A list of values of one kind: exactly `exact` of them, or at most max_len."""

    item: Any
    max_len: int = 0
    exact: int | None = None

    def check(self, v: Any, where: str) -> None:
        if not isinstance(v, list):
            raise MetadataError(where, f"must be a list, not {_show(v)}")
        if self.exact is not None and len(v) != self.exact:
            raise MetadataError(where, f"must have {self.exact} entries, not {len(v):,}")
        if self.exact is None and len(v) > self.max_len:
            raise MetadataError(
                where, f"must have at most {self.max_len:,} entries, not {len(v):,}"
            )
        for i, x in enumerate(v):
            self.item.check(x, f"{where}[{i}]")


@dataclass(frozen=True)
class Record:
    """A JSON object with these fields; other keys are allowed and left alone."""

    fields: Mapping[str, Any]
    required: frozenset[str] = field(default_factory=frozenset)

    def check(self, v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise MetadataError(where, f"must be an object, not {_show(v)}")
        prefix = f"{where}." if where else ""
        for name in self.fields:
            if name in self.required and name not in v:
                raise MetadataError(where or "metadata", f"has no {name!r}")
        for name, spec in self.fields.items():
            if name in v:
                spec.check(v[name], prefix + name)


@dataclass(frozen=True)
class AnyObject:
    """An object whose keys are checked elsewhere (architecture arguments)."""

    def check(self, v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise MetadataError(where, f"must be an object, not {_show(v)}")


# --- the schema -------------------------------------------------------------

UNIT = Num(0, 1)  # accuracies and shares
SECONDS = Num(0, 1e9)
COUNT = Num(0, 10**15, whole=True)
NAME = Text(64)
TITLE_MAX_CHARS = 1000  # shown cut to ~120 characters (registry.Version.title)

TRAIN_CONFIG = Record(
    {
        "model": NAME,  # a network key, checked in validate()
        "subset": Num(1, SIZES["train"], whole=True),
        "first": Flag(),
        "epochs": Num(1, 100_000, whole=True),
        "batch_size": Num(1, SIZES["train"], whole=True, nullable=True),
        "optimizer": Text(64, nullable=True),
        # Any finite rate training takes (settings.py): a run at 1e4 need not diverge.
        "lr": Num(0, 1e308, nullable=True),
        "schedule": NAME,
        "weight_decay": Num(0, 1e3),
        "label_smoothing": Num(0, 1, nullable=True),
        "augment": Flag(),
        "augment_style": Text(64),  # absent before there were two: "jitter"
        "seed": Num(0, 2**64 - 1, whole=True),
        "eval_every": Num(0, 100_000, whole=True),
        "threads": Num(1, 4096, whole=True, nullable=True),
        "device": NAME,
        "precision": NAME,  # as asked: auto, fp32 or bf16 (absent before there was a choice)
    }
)

EPOCH = Record(
    {  # one entry of "history" (train.EpochStats)
        "epoch": Num(1, 100_000, whole=True),
        "loss": Num(0, 1e6),
        "train_accuracy": UNIT,
        "test_accuracy": Num(0, 1, nullable=True),  # null: not measured that epoch
        "seconds": SECONDS,
    }
)

STATS = Record(
    {  # calibration.Figures
        "temperature": Num(0, 1e6, above=True),
        "count": COUNT,
        "accuracy": UNIT,
        "ece": UNIT,
        "nll": Num(0, 1e6),
        "brier": Num(0, 2),
    }
)
BEFORE_AFTER = Record({"before": STATS, "after": STATS})

CALIBRATION = Record(
    {
        "fitted_temperature": Num(0, 1e6, above=True),
        "method": Text(2000),
        "held_out": BEFORE_AFTER,
        "test": BEFORE_AFTER,
        "bins": Num(1, 10_000, whole=True),
        "not_sure_below": UNIT,
        # The draw page reads threshold and wrong_when_sure from every row.
        "thresholds": Items(
            Record(
                {
                    "threshold": UNIT,
                    "not_sure": UNIT,
                    "wrong_when_sure": UNIT,
                    "wrong_caught": UNIT,
                },
                required=frozenset({"threshold", "not_sure", "wrong_when_sure", "wrong_caught"}),
            ),
            max_len=1000,
        ),
    }
)

FIELDS = Record(
    {
        "format": Num(1, FORMAT, whole=True),
        "architecture": NAME,  # a network key, checked in validate()
        "sha256": Text(64, r"[0-9a-f]{64}", "64 lowercase hexadecimal digits"),
        "arch_kwargs": AnyObject(),  # checked against the network's bounds in validate()
        "title": Text(TITLE_MAX_CHARS),
        "test_accuracy": UNIT,
        "per_class_accuracy": Items(UNIT, exact=10),
        "confusion_matrix": Items(Items(COUNT, exact=10), exact=10),
        "train_config": TRAIN_CONFIG,
        "train_seconds": SECONDS,
        "wall_seconds": SECONDS,
        "job_seconds": SECONDS,
        "parameters": COUNT,
        "history": Items(EPOCH, max_len=100_000),
        "history_test_images": COUNT,
        # Logits are divided by it: 0 gave "nan% sure"; this range keeps softmax finite.
        "temperature": Num(0.01, 100),
        "calibration": CALIBRATION,
        "device": NAME,
        "precision": NAME,  # the one training used: fp32 or bf16 (absent: fp32)
        "source": NAME,
        "job_id": NAME,
        "command": Text(8000),  # the CLI line, with a title of up to 1,000 characters, shell-quoted
        "torch_version": NAME,
        "created": Stamp(),
        "weights_file": Text(255),
    },
    required=frozenset({"architecture", "sha256"}),
)


def validate(meta: Any) -> dict[str, Any]:
    """The metadata itself if every known field is valid; MetadataError naming the first bad one.

    Architecture arguments are checked against the network's bounds here, so
    nothing is allocated for a checkpoint that asks for a huge model.
    """
    if not isinstance(meta, dict):
        raise MetadataError("", "metadata is not a JSON object")
    FIELDS.check(meta, "")
    arch = meta["architecture"]
    if arch not in networks.keys():
        raise MetadataError(
            "architecture", f"{arch!r} is unknown (known: {', '.join(networks.keys())})"
        )
    try:
        networks.get(arch).check_kwargs(meta.get("arch_kwargs", {}))
    except ValueError as exc:
        # The message quotes the file's value: cut to one short line, whatever it held.
        raise MetadataError("arch_kwargs", f"are out of bounds: {plain(str(exc), 200)}") from None
    model = (meta.get("train_config") or {}).get("model")
    if model is not None and model not in networks.keys():
        raise MetadataError("train_config.model", f"{model!r} is unknown")
    return meta


def weights_bytes(arch: str, arch_kwargs: Mapping[str, Any]) -> int:
    """Bytes of a network's state_dict as save() writes it, found without allocating it."""
    with torch.device("meta"):  # shapes only: no memory, even for the largest bounds
        model = networks.get(arch).build(**arch_kwargs)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def weights_size_limit(meta: Mapping[str, Any]) -> int:
    """The largest .pt file accepted for validated metadata: its own weights plus a margin."""
    size = weights_bytes(meta["architecture"], meta.get("arch_kwargs", {}))
    return int(size * (1 + WEIGHTS_SLACK_FRACTION)) + WEIGHTS_SLACK_BYTES
