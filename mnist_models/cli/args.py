"""What every command shares: the one-line error, argument types, and the output check.

Training settings get their argument types from the settings table
(``training/settings.py``), so the command line takes exactly what training does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from mnist_models.cli.parser import Parser as Parser  # re-exported for the commands
from mnist_models.cli.parser import fail as fail
from mnist_models.cpu import default_threads
from mnist_models.training import settings


def _typed(bounds: settings.Setting) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            return bounds.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = bounds.name  # argparse names the type in some messages
    return parse


def setting(name: str) -> Callable[[str], int | float]:
    """An argparse type for a training setting: its kind and bounds from the table."""
    return _typed(settings.get(name))


def whole_number(name: str, lo: int = 1) -> Callable[[str], int | float]:
    """An argparse type for a count that is not a training setting (at least lo)."""
    return _typed(settings.Setting(name, name, True, lo, None, None, ""))


def threads(text: str) -> int:
    """--threads: a training setting, also capped at the cores here."""
    table = settings.get("threads")
    bounds = replace(table, hi=min(table.hi, default_threads()))
    try:
        n = bounds.number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not bounds.allows(n):  # far more threads than cores has crashed torch outright
        raise argparse.ArgumentTypeError(f"must be {bounds.rule} (the cores here), not {text}")
    return n


def device(text: str) -> str:
    """--device: auto, cpu, or an accelerator present on this machine."""
    if text in ("auto", "cpu"):
        return text
    kind, _, index = text.partition(":")
    if kind not in ("cuda", "mps") or (index and not index.isdigit()):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; choose from auto, cpu, cuda, mps"
        )
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        present = count > 0 and (not index or int(index) < count)
    else:
        mps = getattr(torch.backends, "mps", None)
        present = mps is not None and mps.is_available() and index in ("", "0")
    if not present:
        raise argparse.ArgumentTypeError(f"{text} is not available on this machine")
    return text


def writable_problem(path: Path, suffix: str | None = None) -> str | None:
    """Why a file cannot be written at path (checked before any work), or None if it can."""
    if suffix is not None and path.suffix != suffix:
        return f"{path} must end in {suffix}"
    if path.is_dir():
        return f"{path} is a folder, not a file"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A real file in the folder: os.access says yes to root on a read-only disk.
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {path.parent} ({exc.strerror or exc})"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None
