"""Model versions: the shipped checkpoints, trained ones, and which is active.

Shipped checkpoints live in ``weights/`` and are never written to. Models
trained from the app are saved under ``<home>/versions/`` and the active
choice per architecture in ``<home>/active.json``; home is $MNIST_APP_HOME,
else ``trained/`` in the project folder.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_models import files, text
from mnist_models.nets import checkpoint, networks

SHIPPED_DIR = files.ROOT / "weights"
# Live views of the network table, so a network registered later is included.
DEFAULT_ACTIVE = networks.SHIPPED_IDS  # key -> shipped version id
ARCHS = networks.NETWORKS.keys()


def versions_dir() -> Path:
    """Where models trained from the app are saved."""
    return files.home() / "versions"


TITLE_CHARS = 120  # a title longer than this is cut, with an ellipsis
STALE_TEMP_SECONDS = 60.0  # a save writes its temporary file in well under this


@dataclass
class Version:
    """One checkpoint the app can use."""

    id: str  # "shipped/<stem>" or "trained/<stem>"
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why it cannot be used, if broken

    @property
    def shipped(self) -> bool:
        return self.id.startswith("shipped/")

    @property
    def architecture(self) -> str | None:
        return self.meta.get("architecture")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def title(self) -> str:
        """Plain text, one line, at most TITLE_CHARS: md_escape it before st.markdown."""
        return text.plain(self.meta.get("title") or "", TITLE_CHARS) or self.path.stem

    @property
    def subset(self) -> int | None:
        return (self.meta.get("train_config") or {}).get("subset")

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_accuracy")

    def label(self) -> str:
        """One line of plain text for menus: title, training images, test accuracy."""
        if not self.ok:
            return f"{self.id} (broken: {self.error})"
        bits = [self.title]
        if self.subset:
            bits.append(f"{self.subset:,} images")
        if self.test_accuracy is not None:
            bits.append(f"{self.test_accuracy:.2%} test")
        return " · ".join(bits)


# What loading each checkpoint file found: (path, size, mtime_ns, sha256 in its metadata)
# -> the error, or None for one that loads. A file changed in any way is loaded again.
_LOADED: dict[tuple, str | None] = {}


def _file_key(path: Path, meta: dict[str, Any]) -> tuple:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, meta.get("sha256"))


def _load_check(path: Path, meta: dict[str, Any], verify: bool) -> None:
    """CheckpointError if the weights cannot be loaded into their architecture (a pickle,
    a cut file whose sha256 was recorded as it is, another network's weights). With verify
    the file is loaded (once per state of the file: size, sha256, weights_only load, strict
    load_state_dict); without, only what a load already found is told."""
    try:
        key = _file_key(path, meta)
    except OSError as exc:
        raise checkpoint.CheckpointError(f"{path}: cannot be read ({exc.strerror})") from None
    if key not in _LOADED:
        if not verify:
            return
        try:
            checkpoint.load(path)
            _LOADED[key] = None
        except checkpoint.CheckpointError as exc:
            _LOADED[key] = str(exc)
    if _LOADED[key] is not None:
        raise checkpoint.CheckpointError(_LOADED[key])


def _check(vid: str, path: Path, verify: bool) -> Version:
    """The version at path, with the reason it is broken if it is; never reads an oversized file.

    verify loads the weights (once per state of the file, see _load_check); without it, a
    stat (cheap enough for every render) and what an earlier load found."""
    meta: dict[str, Any] = {}  # kept when only the weights are at fault
    try:
        meta = checkpoint.read_metadata(path)
        if not path.is_file():
            return Version(vid, path, meta, f"{path.name}: weights file is missing")
        checkpoint.check_weights_size(path, meta)
        _load_check(path, meta, verify)
    except checkpoint.CheckpointError as exc:
        # Visitors read this: name the file, never the server's folders.
        why = text.plain(str(exc).replace(f"{path.parent}{os.sep}", ""), 300)
        return Version(vid, path, meta, why)
    return Version(vid, path, meta)


def _scan(folder: Path, prefix: str, verify: bool) -> list[Version]:
    if not folder.is_dir():
        return []
    stems = {
        p.stem
        for p in folder.iterdir()
        if p.suffix in (".pt", ".json") and not p.name.startswith(".")
    }
    return [_check(f"{prefix}/{s}", folder / f"{s}.pt", verify) for s in sorted(stems)]


def list_versions(arch: str | None = None, verify: bool = True) -> list[Version]:
    """Shipped then trained versions (newest last), broken ones included, optionally one arch."""
    found = _scan(SHIPPED_DIR, "shipped", verify) + _scan(versions_dir(), "trained", verify)
    if arch is not None:
        found = [v for v in found if v.architecture == arch or (not v.ok and not v.architecture)]
    return found


def get_version(vid: str, verify: bool = True) -> Version:
    """A version by id; raises KeyError for an unknown or malformed id."""
    m = re.fullmatch(r"(shipped|trained)/([A-Za-z0-9_.\-]+)", vid or "")
    if not m:
        raise KeyError(f"not a version id: {vid!r}")
    folder = SHIPPED_DIR if m.group(1) == "shipped" else versions_dir()
    path = folder / f"{m.group(2)}.pt"
    if not path.exists() and not path.with_suffix(".json").exists():
        raise KeyError(f"no such version: {vid}")
    return _check(vid, path, verify)


def _active_file() -> Path:
    return files.home() / "active.json"


def _read_active() -> dict[str, str]:
    try:
        data = json.loads(_active_file().read_text())
        return {k: v for k, v in data.items() if k in ARCHS and isinstance(v, str)}
    except (OSError, ValueError, AttributeError):
        return {}


def active_id(arch: str) -> str:
    """The chosen version id for an architecture (the shipped one by default)."""
    return _read_active().get(arch, DEFAULT_ACTIVE[arch])


class NoVersion(KeyError):
    """A network with no shipped version and no usable chosen one: none of it is in use."""

    def __init__(self, message: str, chosen: str) -> None:
        super().__init__(message)
        self.chosen = chosen  # the broken choice, "" when none was made


def active_version(arch: str, verify: bool = True) -> tuple[Version, str | None]:
    """(usable active version, warning): falls back to the shipped model if the choice broke.

    NoVersion (a KeyError) for a network that ships no weights when nothing usable is chosen.
    """
    vid = active_id(arch)
    warning = None
    if vid:  # "": a network that ships nothing, and nothing chosen
        try:
            v = get_version(vid, verify)
            if v.ok and v.architecture == arch:
                return v, None
            why = v.error or "wrong architecture"
            warning = f"{vid} cannot be used ({why}); using the shipped model"
        except KeyError as exc:
            warning = f"{exc.args[0]}; using the shipped model"
    if not DEFAULT_ACTIVE[arch]:
        name = networks.get(arch).name
        reason = warning.removesuffix("; using the shipped model") if warning else "none is chosen"
        raise NoVersion(f"no {name} version is in use: {reason}, and none is shipped", vid)
    return get_version(DEFAULT_ACTIVE[arch], verify), warning


def set_active(arch: str, vid: str) -> Version:
    """Make a version active for its architecture; refuses broken or mismatched ones."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model {arch!r}")
    v = get_version(vid)
    if not v.ok:
        raise ValueError(f"{vid} is broken and cannot be activated: {v.error}")
    if v.architecture != arch:
        raise ValueError(f"{vid} is a {v.architecture} model, not {arch}")
    state = _read_active()
    state[arch] = vid
    data = (json.dumps(state, indent=2) + "\n").encode()
    files.atomic_write(_active_file(), data)
    return v


def new_version_path(arch: str, subset: int, stamp: str) -> Path:
    """A fresh file name under versions/ for a model trained now."""
    versions_dir().mkdir(parents=True, exist_ok=True)
    base = f"{stamp}-{arch}-{subset}"
    path = versions_dir() / f"{base}.pt"
    n = 2
    while path.exists() or path.with_suffix(".json").exists():
        path = versions_dir() / f"{base}-{n}.pt"
        n += 1
    return path


def delete_version(vid: str) -> None:
    """Remove a trained version (shipped ones cannot be deleted); resets it if active."""
    v = get_version(vid, verify=False)
    if v.shipped:
        raise ValueError("shipped models cannot be deleted")
    for p in (v.path, checkpoint.meta_path(v.path)):
        p.unlink(missing_ok=True)
    state = _read_active()
    changed = {k: val for k, val in state.items() if val != vid}
    if changed != state:
        files.atomic_write(_active_file(), (json.dumps(changed, indent=2) + "\n").encode())


def cleanup(max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove temporary files that a killed save left in home and versions/; returns them.

    checkpoint.atomic_write names them ".<name>.<random>.tmp". Only those older
    than max_age seconds go, so a save in progress (in this or another server
    process) keeps its file. A server's start calls it through
    training.jobs.cleanup_at_start, with max_age 0 when no training job runs.
    """
    cutoff = time.time() - max_age
    removed = []
    for folder in (files.home(), versions_dir()):
        try:
            entries = list(folder.iterdir())
        except OSError:  # no such folder yet, or not readable: nothing to clean
            continue
        for p in entries:
            if not (p.name.startswith(".") and p.name.endswith(".tmp")):
                continue
            try:
                st = p.lstat()
                if not stat.S_ISREG(st.st_mode) or st.st_mtime > cutoff:
                    continue
                p.unlink()
            except OSError:  # removed meanwhile, or a read-only folder: leave it
                continue
            removed.append(p)
    return removed
