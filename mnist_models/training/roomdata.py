"""A room's labelled drawings as a training set, split into train and held-out by person.

The drawings come from the room store (anything with the fields of a stored drawing:
``id``, ``participant``, ``label``, ``image``, ``hidden``; ``rooms.rules.Drawing`` has
them) or from an exported room file (``rooms/exchange.py``'s zip, read here on its
own so a room can be taught later or on another machine). The label is the one the
person chose. Left out: hidden drawings and unlabelled ones (the store keeps no
not-a-digit verdict, so a drawing flagged as not a digit is in exactly when its
author labelled it). Skipped and counted: a label outside 0-9, an image that is not
28x28 bytes or has no ink.

The split puts each person's drawings on one side only, so the held-out figure is
about handwriting the networks were not taught; with fewer than ``MIN_PEOPLE``
people it splits by drawing instead and says so.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

MIN_PEOPLE = 6  # fewer: split by drawing (someone's digits then sit on both sides)
HELD_SHARE = 0.3  # of the people (or of each digit's drawings) kept aside
FEW = 5  # a digit with fewer training drawings than this gets a warning
MAX_EXPORT_BYTES = 200_000_000  # uncompressed members of an exported room, as its import


class RoomDataError(ValueError):
    """A room that cannot be taught from; the message is one sentence for people."""


class RoomDrawing(Protocol):
    """What the dataset reads of a stored drawing."""

    id: int
    participant: str
    label: Any  # a digit 0-9 as the person chose it, or None
    image: bytes  # 784 bytes, 28x28 uint8, ink = 255
    hidden: bool


@dataclass(frozen=True)
class Row:
    """One drawing as read from an exported file (the fields of RoomDrawing)."""

    id: int
    participant: str
    label: Any
    image: bytes
    hidden: bool = False


@dataclass
class RoomData:
    """The training and held-out drawings of one room, and what was left out and why."""

    source: str  # "room ABCD" or the file's name, for messages
    train_images: torch.Tensor  # uint8 (N, 28, 28)
    train_labels: torch.Tensor  # int64 (N,)
    train_ids: list[int]
    held_images: torch.Tensor
    held_labels: torch.Tensor
    held_ids: list[int]
    people: tuple[int, int]  # participants on each side (train, held-out)
    by_person: bool  # False: split by drawing (fewer than MIN_PEOPLE people)
    drawings: int  # every drawing read
    left_out: dict[str, int] = field(default_factory=dict)  # hidden, unlabelled
    skipped: dict[str, int] = field(default_factory=dict)  # bad label, unreadable image
    warnings: list[str] = field(default_factory=list)

    def counts(self, side: str) -> list[int]:
        """Drawings of each digit 0-9 on one side ("train" or "held")."""
        labels = self.train_labels if side == "train" else self.held_labels
        return torch.bincount(labels, minlength=10).tolist()

    def describe(self) -> list[str]:
        """What the dataset holds, in a few sentences."""
        how = (
            f"split by person: {self.people[0]} people teach, {self.people[1]} others are held out"
            if self.by_person
            else f"split by drawing: only {sum(self.people)} "
            f"{'person' if sum(self.people) == 1 else 'people'} (fewer than {MIN_PEOPLE}), "
            "so the same people's handwriting is on both sides and the held-out figure "
            "flatters the networks"
        )
        lines = [
            f"{self.source}: {len(self.train_ids)} drawings to learn from and "
            f"{len(self.held_ids)} held out, {how}."
        ]
        out = [f"{n} {why}" for why, n in {**self.left_out, **self.skipped}.items() if n]
        if out:
            lines.append(f"Of {self.drawings} drawings, left out: {', '.join(out)}.")
        return lines + self.warnings

    def summary(self) -> dict[str, Any]:
        """The counts as plain data (JSON, job status, metadata)."""
        return {
            "source": self.source,
            "drawings": self.drawings,
            "train": len(self.train_ids),
            "held_out": len(self.held_ids),
            "people": list(self.people),
            "by_person": self.by_person,
            "train_per_digit": self.counts("train"),
            "held_per_digit": self.counts("held"),
            "left_out": dict(self.left_out),
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
        }


def _readable(image: Any) -> np.ndarray | None:
    """The drawing's 28x28 uint8 image, or None when it is not one or has no ink."""
    if isinstance(image, np.ndarray):
        a = image
        if a.shape != (28, 28) or a.dtype != np.uint8:
            return None
    elif isinstance(image, (bytes, bytearray)) and len(image) == 28 * 28:
        a = np.frombuffer(bytes(image), dtype=np.uint8).reshape(28, 28)
    else:
        return None
    return a if a.any() else None


def _label(label: Any) -> int | None:
    """A digit 0-9 as an int; None for anything else."""
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        return None
    return int(label) if 0 <= label <= 9 else None


def from_drawings(
    drawings: Iterable[RoomDrawing], source: str, seed: int = 0, held_share: float = HELD_SHARE
) -> RoomData:
    """The dataset of a room's drawings (hidden ones included: they are counted and left
    out); RoomDataError when nothing can be taught from them."""
    rows, left, skipped, total = [], {"hidden": 0, "unlabelled": 0}, {}, 0
    for d in drawings:
        total += 1
        if d.hidden:
            left["hidden"] += 1
            continue
        if d.label is None:
            left["unlabelled"] += 1
            continue
        label, image = _label(d.label), _readable(d.image)
        if label is None:
            skipped["with a label outside 0-9"] = skipped.get("with a label outside 0-9", 0) + 1
        elif image is None:
            skipped["with an unreadable image"] = skipped.get("with an unreadable image", 0) + 1
        else:
            rows.append((int(d.id), str(d.participant), label, image))
    if not rows:
        raise RoomDataError(
            f"{source} has no labelled drawings to learn from: ask people to pick the digit "
            "they meant before they send."
        )
    digits = sorted({r[2] for r in rows})
    if len(digits) < 2:
        raise RoomDataError(
            f"Every labelled drawing of {source} is a {digits[0]}: teaching needs at least "
            "two different digits, or the networks only learn to answer "
            f"{digits[0]}."
        )
    held = _held_out(rows, seed, held_share)
    if not held.any():
        raise RoomDataError(
            f"{source} has too few labelled drawings ({len(rows)}) to keep some aside for "
            "the before and after: label a few more."
        )
    people = sorted({r[1] for r in rows})
    by_person = len(people) >= MIN_PEOPLE

    def side(mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        picked = [r for r, m in zip(rows, mask) if m]
        images = np.stack([r[3] for r in picked]) if picked else np.zeros((0, 28, 28), np.uint8)
        labels = torch.tensor([r[2] for r in picked], dtype=torch.int64)
        return torch.from_numpy(images.copy()), labels, [r[0] for r in picked]

    train, out = side(~held), side(held)
    n_held_people = len({r[1] for r, m in zip(rows, held) if m})
    data = RoomData(
        source,
        *train,
        *out,
        people=(len(people) - n_held_people, n_held_people) if by_person else (len(people), 0),
        by_person=by_person,
        drawings=total,
        left_out=left,
        skipped=skipped,
    )
    few = [(d, n) for d, n in enumerate(data.counts("train")) if n < FEW]
    if few:
        data.warnings.append(
            "Few drawings to learn from for "
            + ", ".join(f"{d} ({n})" for d, n in few)
            + f": fewer than {FEW} teach the networks little about a digit."
        )
    return data


def _held_out(rows: list[tuple], seed: int, share: float) -> np.ndarray:
    """Which rows are held out: whole people when there are enough, else drawings per digit."""
    rng = np.random.default_rng(seed)
    people = sorted({r[1] for r in rows})
    if len(people) >= MIN_PEOPLE:
        n = min(len(people) - 1, max(1, round(len(people) * share)))
        chosen = set(rng.permutation(people)[:n].tolist())
        return np.array([r[1] in chosen for r in rows])
    held = np.zeros(len(rows), dtype=bool)
    for digit in sorted({r[2] for r in rows}):
        idx = np.array([i for i, r in enumerate(rows) if r[2] == digit])
        held[rng.permutation(idx)[: int(len(idx) * share + 0.5) if len(idx) > 1 else 0]] = True
    return held


def export_rows(data: bytes, name: str = "the file") -> tuple[str, list[Row]]:
    """(room title, drawings) of an exported room (exchange.py's zip); RoomDataError naming
    the file when it is not one. A malformed drawing comes back to be counted, not refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = set(z.namelist())
            if not {"room.npz", "room.json"} <= members:
                raise RoomDataError(
                    f"{name} is not a room export (it needs room.npz and room.json)."
                )
            if sum(z.getinfo(m).file_size for m in ("room.npz", "room.json")) > MAX_EXPORT_BYTES:
                raise RoomDataError(f"{name} is too large for a room export.")
            meta = json.loads(z.read("room.json"))
            with np.load(io.BytesIO(z.read("room.npz")), allow_pickle=False) as npz:
                images, labels = npz["images"], npz["labels"]
    except RoomDataError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise RoomDataError(f"{name} is not a readable room export ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != "mnist-room":
        raise RoomDataError(f"{name} is not a room export (its format is not mnist-room).")
    if meta.get("version") != 1:
        version = meta.get("version")
        raise RoomDataError(f"{name}: room export version {version!r} is not supported.")
    rows = meta.get("drawings")
    if (
        not isinstance(rows, list)
        or images.ndim != 3
        or len(images) != len(rows)
        or labels.shape != (len(rows),)
    ):
        raise RoomDataError(f"{name}: the room export's arrays do not match its drawings.")
    out = []
    for i, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        label = labels[i].item() if labels.dtype.kind in "iu" else None
        image = images[i] if images.dtype == np.uint8 and images.shape[1:] == (28, 28) else b""
        out.append(
            Row(
                id=int(row["id"]) if isinstance(row.get("id"), int) else i,
                participant=str(row.get("participant") or f"#{i}"),
                # -1 is "no label" in the export; other values outside 0-9 are counted.
                label=None if label == -1 else (label if label is not None else "?"),
                image=image.tobytes() if isinstance(image, np.ndarray) else image,
                hidden=bool(row.get("hidden")),
            )
        )
    room = meta.get("room") if isinstance(meta.get("room"), dict) else {}
    return str(room.get("code") or room.get("title") or name), out


def from_export(data: bytes, name: str = "the file", seed: int = 0) -> RoomData:
    """The dataset of an exported room file's bytes; RoomDataError for a file that is not
    one or a room that cannot be taught from."""
    code, rows = export_rows(data, name)
    return from_drawings(rows, f"room {code} ({name})", seed=seed)
