"""Checkpoints: a state_dict (.pt) plus JSON metadata beside it, written atomically.

This module saves and loads; what the metadata of a trained model holds is built by the
training pipeline (``training/pipeline.py``) and checked by the schema (``metadata.py``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

# CheckpointError is defined with the schema (which raises it) and used from here.
from mnist_models import files
from mnist_models.nets.metadata import METADATA_MAX_BYTES, CheckpointError, MetadataError, validate
from mnist_models.nets.metadata import weights_size_limit as _weights_size_limit
from mnist_models.nets.networks import NETWORKS, build

MODELS = NETWORKS  # the architecture check reads the network table (live)


def meta_path(path: str | os.PathLike) -> Path:
    """The JSON file beside a .pt checkpoint."""
    return Path(path).with_suffix(".json")


def save(
    model: nn.Module,
    path: str | os.PathLike,
    arch: str,
    metadata: dict[str, Any],
    arch_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write path (.pt) and its .json; returns the metadata written."""
    return save_weights(weights(model), path, arch, metadata, arch_kwargs)


def weights(model: nn.Module) -> bytes:
    """The model's state_dict as a checkpoint's .pt holds it (on the CPU, contiguous)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def save_weights(
    blob: bytes,
    path: str | os.PathLike,
    arch: str,
    metadata: dict[str, Any],
    arch_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write weights made by :func:`weights` (in the training process: they are not
    serialised twice) to path and its .json; returns the metadata written."""
    path = Path(path)
    if path.suffix != ".pt":
        raise CheckpointError(f"{path}: checkpoint files must end in .pt")
    if arch not in NETWORKS:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}")
    meta = {
        "format": 1,
        "architecture": arch,
        "arch_kwargs": arch_kwargs or {},
        **metadata,
        "torch_version": torch.__version__,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "weights_file": path.name,
    }
    # Weights first, then metadata: a crash between the two leaves a .pt with
    # no (or an old) .json, which load() refuses, never a half-written file.
    files.atomic_write(path, blob)
    files.atomic_write(meta_path(path), (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, validated against the schema (metadata.py)."""
    path = Path(path)
    mpath = meta_path(path)
    if not mpath.is_file():
        raise CheckpointError(f"{mpath}: metadata file is missing")
    try:
        size = mpath.stat().st_size
        if size <= METADATA_MAX_BYTES:
            with open(mpath, "rb") as f:
                raw = f.read(METADATA_MAX_BYTES + 1)  # bounded even if the file grows meanwhile
                size = max(size, len(raw))
    except OSError as exc:
        raise CheckpointError(f"{mpath}: metadata cannot be read ({exc.strerror or exc})") from exc
    if size > METADATA_MAX_BYTES:  # refused by its size, before parsing (or reading) it
        raise CheckpointError(
            f"{mpath}: metadata file is too large ({_mb(size)}; at most {_mb(METADATA_MAX_BYTES)})"
        )
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError also covers integers too long to convert; RecursionError, deep nesting.
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{mpath}: metadata is not readable JSON ({why})") from exc
    try:
        return validate(meta)
    except MetadataError as exc:
        raise MetadataError(exc.field, exc.reason, file=mpath) from None


def _check_size(path: Path, limit: int) -> int:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if size > limit:
        raise CheckpointError(
            f"{path}: checkpoint file is too large for its architecture "
            f"({_mb(size)}; at most {_mb(limit)})"
        )
    return size


def check_weights_size(path: str | os.PathLike, meta: dict[str, Any]) -> int:
    """The .pt file's size; CheckpointError if its architecture cannot need that much."""
    return _check_size(Path(path), _weights_size_limit(meta))


def read_weights(path: str | os.PathLike, meta: dict[str, Any]) -> bytes:
    """The .pt file's bytes, refused by size before reading and by sha256 after."""
    path = Path(path)
    limit = _weights_size_limit(meta)
    _check_size(path, limit)
    try:
        with open(path, "rb") as f:
            blob = f.read(limit + 1)  # bounded even if the file grows after the check
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(blob) > limit or hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise CheckpointError(f"{path}: sha256 does not match its metadata (corrupt or replaced)")
    return blob


def load(path: str | os.PathLike, map_location: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, metadata); raises CheckpointError on any problem."""
    path = Path(path)
    if path.suffix != ".pt":
        path = path.with_suffix(".pt")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file is missing")
    meta = read_metadata(path)  # validated: architecture arguments are within bounds
    blob = read_weights(path, meta)
    try:
        state = torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch's messages run to many lines; the first says what
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a loadable state_dict ({first})") from exc
    try:
        model = build(meta["architecture"], **meta.get("arch_kwargs", {}))
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: weights do not fit architecture {meta['architecture']!r} ({exc})"
        ) from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, meta
