"""The models in use: each network's chosen checkpoint, loaded once per server process.

The choice lives in files (``active.json``, ``versions/``) and is the presenter's, shared
by everyone: every page and session reads the same models through :func:`models_in_use`,
cheap enough to call on every drawing, so an open page follows a choice made in another
browser at its next drawing. Which model each network uses, and the fallback to the
shipped one, is the core's ``reading.read.load_active``, as for ``python -m mnist_models
read``; this module only caches what it returns.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import streamlit as st
import torch
from torch import nn

from app_pages import common
from mnist_models import files
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.reading import raster
from mnist_models.reading import read as mread

# A model in use is "weak" when it scores this much (absolute) below the shipped
# one of the same network on the test set; the drawing page then says so beside
# its answer, so a visitor does not blame the network for a small training set.
WEAK_BELOW_SHIPPED = 0.02


@st.cache_resource(max_entries=12, show_spinner="Loading the network…")
def load_model(path: str, sha256: str) -> tuple[nn.Module, dict]:
    """One checkpoint, loaded once per server process and shared read-only.

    Keyed by path and sha256, so a file replaced under the same name is loaded
    afresh. Callers must never train or otherwise change the model returned.
    """
    model, meta = checkpoint.load(path)
    model.eval()
    with torch.inference_mode():  # the first call pays one-off setup costs; pay them here
        model(torch.zeros(1, 1, 28, 28))
    return model, meta


@dataclass(frozen=True)
class InUse:
    """One network's model in use: its table entry, version and loaded model."""

    net: networks.Network
    version: registry.Version
    model: nn.Module
    shipped_accuracy: float | None = None  # the shipped model's, for the weak-model note

    @property
    def key(self) -> str:
        return self.net.key

    @property
    def temperature(self) -> float:
        t = self.version.meta.get("temperature", 1.0)
        return float(t) if isinstance(t, (int, float)) and t > 0 else 1.0

    def weak_note(self) -> str | None:
        """'trained on 300 images, 91% on test' when well below the shipped model, else None."""
        acc, ref = self.version.test_accuracy, self.shipped_accuracy
        if self.version.shipped or not isinstance(acc, (int, float)) or ref is None:
            return None
        if acc > ref - WEAK_BELOW_SHIPPED:
            return None
        subset = self.version.subset
        trained = f"trained on {subset:,} images, " if isinstance(subset, int) else ""
        return f"{trained}{acc:.0%} on test (the shipped {self.net.name}: {ref:.1%})"


@dataclass(frozen=True)
class _Resolved:
    uses: dict[str, InUse]
    notes: tuple[str, ...]  # why a chosen model is not the one in use (a fallback)


def _stat(path: os.PathLike | str) -> tuple[int, int] | None:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return s.st_mtime_ns, s.st_size


def stamp() -> tuple:
    """What the versions and the models in use depend on, in two stat calls (see _stamp)."""
    return _stamp()


def _stamp() -> tuple:
    """What the models in use depend on, read with two stat calls and no file contents.

    The choice lives in active.json; a version appearing in or vanishing from
    versions/ (a new model, a deletion) changes that folder's mtime. The table of
    networks and the shipped folder are part of it too (tests change both).
    """
    home = files.home()
    return (
        _stat(home / "active.json"),
        _stat(home / "versions"),
        str(home),
        str(registry.SHIPPED_DIR),
        networks.keys(),
    )


def _shipped_accuracy(net: networks.Network) -> float | None:
    try:
        acc = registry.get_version(net.shipped, verify=False).test_accuracy
    except KeyError:  # a network with no shipped model
        return None
    return float(acc) if isinstance(acc, (int, float)) else None


def _load(version: registry.Version) -> nn.Module:
    """load_active's loader: the process's shared copy of the checkpoint."""
    return load_model(str(version.path), str(version.meta.get("sha256", "")))[0]


def _mentions(warning: str, vid: str) -> bool:
    """Whether a warning of load_active is about this version id (not one it is a prefix of)."""
    return re.search(rf"{re.escape(vid)}(?![\w.\-])", warning) is not None


@st.cache_resource(max_entries=4, show_spinner=False)
def _resolve(stamp: tuple) -> _Resolved:
    """The models in use for one state of the files (see _stamp); shared by every session."""
    chosen = {k: registry.active_id(k) for k in networks.keys()}
    models, warnings = mread.load_active(load=_load)
    uses, notes, told = {}, [], set()
    for key, (model, version) in models.items():
        net = networks.get(key)
        uses[key] = InUse(net, version, model, _shipped_accuracy(net))
        if version.id == chosen.get(key, version.id):
            continue
        why = [w for w in warnings if _mentions(w, chosen[key])]
        told.update(why)
        reasons = "; ".join(w.removesuffix("; using the shipped model") for w in why)
        notes.append(
            f"The {net.name} chosen for this app cannot be used"
            + (f" ({reasons})" if reasons else "")
            + f", so the shipped {net.name} answers instead."
        )
    notes += [w for w in warnings if w not in told]
    return _Resolved(uses, tuple(notes))


# The last state of the files and what it resolved to: the same state is answered from here
# without st.cache_resource hashing its key at every call (a few % of a room server's CPU).
_last: tuple[tuple, _Resolved] | None = None


def _resolved() -> _Resolved:
    global _last
    stamp, last = _stamp(), _last
    if last is not None and last[0] == stamp:
        return last[1]
    resolved = _resolve(stamp)
    _last = (stamp, resolved)
    return resolved


def models_in_use() -> dict[str, InUse]:
    """The model in use for every network in the table, cheap enough to call on every drawing.

    Raises checkpoint.CheckpointError or KeyError when even a shipped model cannot be loaded.
    """
    return _resolved().uses


def notes() -> list[str]:
    """Why a chosen model is not the one in use, one sentence each (empty when all are)."""
    return [common.without_paths(n) for n in _resolved().notes]


def read_drawing(pre: raster.Preprocessed, uses: dict[str, InUse]) -> mread.Reading:
    """Every network's answer and not-a-digit verdict: the same function as `read` on the
    command line (mnist_models.reading.read), so the page and the command never disagree."""
    return mread.read(pre, {k: (u.model, u.version) for k, u in uses.items()})
