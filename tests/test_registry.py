"""The version registry: broken versions listed with the reason, files left by killed saves."""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from mnist_models import files
from mnist_models.nets import checkpoint, registry
from mnist_models.nets.networks import build

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def home(app_home: Path) -> Path:
    """An empty app home for trained versions (conftest)."""
    return app_home


def trained(name: str = "v1", arch: str = "mlp", **meta) -> Path:
    """A freshly initialised model saved as a trained version; returns its .pt path."""
    torch.manual_seed(0)
    path = registry.versions_dir() / f"{name}.pt"
    checkpoint.save(
        build(arch), path, arch, {"title": "A test model", "test_accuracy": 0.5, **meta}
    )
    return path


def edit(path: Path, **changes) -> None:
    mpath = checkpoint.meta_path(path)
    mpath.write_text(json.dumps({**json.loads(mpath.read_text()), **changes}))


def mine() -> dict[str, registry.Version]:
    """The trained versions by id (the shipped ones are listed too, and left alone here)."""
    return {v.id: v for v in registry.list_versions() if not v.shipped}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"test_accuracy": "high"},
            "v1.json: test_accuracy must be a number from 0 to 1, not 'high'",
        ),
        (
            {"temperature": "abc"},
            "v1.json: temperature must be a number from 0.01 to 100, not 'abc'",
        ),
        ({"temperature": 0}, "v1.json: temperature must be a number from 0.01 to 100, not 0"),
        ({"temperature": -1}, "v1.json: temperature must be a number from 0.01 to 100, not -1"),
        (
            {"arch_kwargs": {"hidden": 20000}},
            "v1.json: arch_kwargs are out of bounds: MLP argument "
            "'hidden' must be a whole number from 1 to 4096, "
            "not 20000",
        ),
        (
            {"train_config": {"subset": "all"}},
            "v1.json: train_config.subset must be a whole number from 1 to 60000, not 'all'",
        ),
    ],
)
def test_bad_field_lists_the_version_as_broken(home: Path, changes: dict, reason: str) -> None:
    edit(trained(), **changes)
    trained("v2")
    versions = mine()
    assert versions["trained/v1"].error == reason
    assert versions["trained/v2"].ok  # one bad file breaks only its own version
    assert versions["trained/v1"].label() == f"trained/v1 (broken: {reason})"
    assert str(home) not in reason  # visitors never see the server's folders


@pytest.mark.parametrize("content", [b"[1, 2]", b"{not json", b"\xff\xfe", b""])
def test_unreadable_metadata_lists_the_version_as_broken(home: Path, content: bytes) -> None:
    checkpoint.meta_path(trained()).write_bytes(content)
    v = mine()["trained/v1"]
    assert not v.ok and v.error.startswith("v1.json: metadata is not")
    assert v.architecture is None
    assert v in registry.list_versions("mlp")  # broken ones without an architecture show for both


def test_huge_metadata_is_broken_by_its_size(home: Path) -> None:
    os.truncate(checkpoint.meta_path(trained()), 200 * 2**20)
    assert mine()["trained/v1"].error == (
        "v1.json: metadata file is too large (200.0 MB; at most 2.0 MB)"
    )


@pytest.mark.parametrize("verify", [True, False])
def test_huge_weights_are_broken_without_being_read(home: Path, monkeypatch, verify: bool) -> None:
    """A 1.5 GB .pt in versions/ (sparse: no disk used) is listed by a stat, never opened."""
    os.truncate(trained(), 1536 * 2**20)
    opened: list[str] = []
    real_open = io.open

    def spy(file, *args, **kwargs):
        opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    v = mine()["trained/v1"]
    assert v.error == (
        "v1.pt: checkpoint file is too large for its architecture (1,536.0 MB; at most 7.6 MB)"
    )
    assert v.architecture == "mlp" and "v1.pt" not in opened


def test_verify_catches_replaced_weights(home: Path) -> None:
    path = trained()
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 1
    path.write_bytes(bytes(blob))
    assert (
        mine()["trained/v1"].error == "v1.pt: sha256 does not match its metadata "
        "(corrupt or replaced)"
    )
    registry._LOADED.clear()  # a fresh process: no load has found anything yet
    assert registry.list_versions(verify=False)[-1].ok  # no hashing without verify


def test_weights_alone_are_broken_and_can_be_deleted(home: Path) -> None:
    """A .pt without its .json (a save killed between the two files) is listed, then deletable."""
    path = trained()
    checkpoint.meta_path(path).unlink()
    v = mine()["trained/v1"]
    assert v.error == "v1.json: metadata file is missing"
    registry.delete_version("trained/v1")
    assert mine() == {} and not path.exists()


def test_metadata_alone_is_broken(home: Path) -> None:
    trained().unlink()
    assert mine()["trained/v1"].error == "v1.pt: weights file is missing"


def test_broken_active_version_falls_back_to_the_shipped_one(home: Path) -> None:
    registry.set_active("mlp", f"trained/{trained().stem}")
    edit(registry.versions_dir() / "v1.pt", temperature="abc")
    v, warning = registry.active_version("mlp")
    assert v.id == "shipped/mlp"
    assert warning == (
        "trained/v1 cannot be used (v1.json: temperature must be a number from "
        "0.01 to 100, not 'abc'); using the shipped model"
    )


# --- titles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("![x](http://example.com/i.png)", "![x](http://example.com/i.png)"),  # escaped when shown
        ("  two\n\nlines\tand\x00 nul\u202e  ", "two lines and nul"),
        ("zero\u200bwidth", "zerowidth"),
        ("\n\x1b\x07\u200b\t\n", "v1"),  # nothing visible left: the file name
        ("", "v1"),
        ("x" * 500, "x" * 119 + "…"),
    ],
)
def test_titles_are_one_clean_line(home: Path, title: str, shown: str) -> None:
    edit(trained(), title=title)
    v = mine()["trained/v1"]
    assert v.ok and v.title == shown
    assert v.label() == f"{shown} · 50.00% test"


# --- files left behind ----------------------------------------------------------


def aged(path: Path, seconds: float) -> Path:
    """Set a file's modification time `seconds` into the past."""
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_cleanup_removes_only_stale_temporary_files(home: Path) -> None:
    keep = [trained(), home / "active.json", home / ".hidden-but-not-temp", home / "notes.tmp"]
    for p in keep[1:]:
        p.write_text("{}")
    vdir = registry.versions_dir()
    stale = [vdir / ".v2.pt.abc123.tmp", home / ".active.json.x1y2.tmp"]
    fresh = vdir / ".v3.pt.def456.tmp"  # a save in progress
    (vdir / ".old-folder.tmp").mkdir()
    for p in [*stale, fresh]:
        p.write_bytes(b"partial")
    for p in stale:
        aged(p, 120)
    aged(vdir / ".old-folder.tmp", 120)
    assert sorted(registry.cleanup()) == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in [*keep, fresh, vdir / ".old-folder.tmp"])
    assert registry.cleanup() == []


def test_cleanup_without_a_home_does_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(files.HOME_ENV, str(tmp_path / "not-yet"))
    assert registry.cleanup() == []
    assert not (tmp_path / "not-yet").exists()


# A save that hangs while writing the metadata, so the test can kill -9 it there:
# the weights are in place, the metadata exists only as a temporary file.
KILLED_SAVE = textwrap.dedent("""
    import os, sys, time
    import torch
    from mnist_models.nets import checkpoint
    from mnist_models.nets.networks import build

    real_fsync = os.fsync
    def fsync(fd):
        real_fsync(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and \\
                ".v1.json." in os.readlink(f"/proc/self/fd/{fd}"):
            print("writing metadata", flush=True)
            time.sleep(600)
    os.fsync = fsync
    checkpoint.save(build("mlp"), sys.argv[1], "mlp", {"title": "killed"})
""")


def test_restart_after_kill_during_save(home: Path) -> None:
    """kill -9 during a save, then a restart: the temp file goes, the lone .pt is listed broken."""
    target = registry.versions_dir() / "v1.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(target)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "writing metadata"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    temps = [p for p in registry.versions_dir().iterdir() if p.name.endswith(".tmp")]
    assert target.exists() and len(temps) == 1 and temps[0].name.startswith(".v1.json.")

    # The restarted server: a temp file younger than a minute may be another
    # process's save in progress, so it stays until it is stale.
    assert registry.cleanup() == []
    assert registry.cleanup(max_age=0) == temps
    assert sorted(p.name for p in registry.versions_dir().iterdir()) == ["v1.pt"]
    v = mine()["trained/v1"]
    assert v.error == "v1.json: metadata file is missing"


# --- at a server's start ---------------------------------------------------------


def record_job(home: Path, pid: int) -> None:
    (home / "jobs.json").write_text(
        json.dumps({"id": "j1", "state": "running", "owner_pid": pid, "configs": []})
    )


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("job", ["none", "finished", "its server is gone"])
def test_at_start_every_temporary_file_goes_when_no_job_runs(home: Path, job: str) -> None:
    """A save killed a second ago left its file: with no job running, a restart removes it."""
    from mnist_models.training import jobs

    if job == "finished":
        (home / "jobs.json").write_text(json.dumps({"state": "done", "owner_pid": os.getpid()}))
    elif job == "its server is gone":
        record_job(home, dead_pid())
    vdir = registry.versions_dir()
    vdir.mkdir(parents=True)
    young = [vdir / ".v1.pt.abc.tmp", home / ".active.json.x.tmp"]
    for p in young:
        p.write_bytes(b"partial")
    assert sorted(jobs.cleanup_at_start()) == sorted(young)
    assert not any(p.exists() for p in young)


def test_at_start_a_running_job_keeps_young_temporary_files(home: Path) -> None:
    """Another server process on this home is training: its save may be under way."""
    from mnist_models.training import jobs

    record_job(home, os.getpid())  # alive
    vdir = registry.versions_dir()
    vdir.mkdir(parents=True)
    young, old = vdir / ".v1.pt.abc.tmp", aged_file(vdir / ".v0.pt.def.tmp", 120)
    young.write_bytes(b"partial")
    assert jobs.cleanup_at_start() == [old]
    assert young.exists()


def aged_file(path: Path, seconds: float) -> Path:
    path.write_bytes(b"partial")
    return aged(path, seconds)


def test_the_server_start_removes_a_fresh_temporary_file(home: Path, presenter) -> None:
    from app_pages import startup

    vdir = registry.versions_dir()
    vdir.mkdir(parents=True)
    left = vdir / ".v1.json.abc.tmp"
    left.write_bytes(b"{")
    startup.start_once.clear()
    try:
        startup.start_once()
    finally:
        startup.start_once.clear()
    assert not left.exists()


# --- weights that cannot be loaded --------------------------------------------------


def with_weights(path: Path, blob: bytes) -> None:
    """Replace a version's weights, and record their sha256 and size as if they were fine."""
    import hashlib

    path.write_bytes(blob)
    edit(path, sha256=hashlib.sha256(blob).hexdigest())


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/should-never-run",))


def unloadable(kind: str) -> Path:
    path = trained()
    if kind == "another network's weights":
        buf = io.BytesIO()
        torch.save(build("cnn").state_dict(), buf)
        with_weights(path, buf.getvalue())
    elif kind == "a pickle payload":
        buf = io.BytesIO()
        torch.save({"state": build("mlp").state_dict(), "x": Payload()}, buf)
        with_weights(path, buf.getvalue())
    else:  # cut short, with the sha256 of what is left
        with_weights(path, path.read_bytes()[:5000])
    return path


KINDS = ["another network's weights", "a pickle payload", "a cut file"]
REASONS = {
    "another network's weights": "v1.pt: weights do not fit architecture 'mlp'",
    "a pickle payload": "v1.pt: not a loadable state_dict",
    "a cut file": "v1.pt: not a loadable state_dict",
}


@pytest.mark.parametrize("kind", KINDS)
def test_weights_that_cannot_be_loaded_are_listed_broken_with_the_reason(home, kind) -> None:
    unloadable(kind)
    v = mine()["trained/v1"]
    assert not v.ok and v.error.startswith(REASONS[kind]), v.error
    assert str(home) not in v.error
    assert v.label().startswith("trained/v1 (broken: ")
    # Once a load found it, the cheap listing of every render says so too.
    assert not registry.get_version("trained/v1", verify=False).ok
    with pytest.raises(ValueError, match="is broken and cannot be activated"):
        registry.set_active("mlp", "trained/v1")
    assert not Path("/tmp/should-never-run").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_chosen_version_that_cannot_be_loaded_is_not_quietly_replaced(home, kind) -> None:
    """Chosen while it was fine, then spoiled: the shipped model answers, and says why."""
    from mnist_models.reading import read as mread

    registry.set_active("mlp", f"trained/{trained().stem}")
    unloadable(kind)
    v, warning = registry.active_version("mlp")
    assert v.id == "shipped/mlp"
    assert warning.startswith(f"trained/v1 cannot be used ({REASONS[kind]}")
    models, warnings = mread.load_active()
    assert models["mlp"][1].id == "shipped/mlp"
    assert any(w.startswith("trained/v1 cannot be used") for w in warnings), warnings


def test_a_spoiled_file_is_loaded_again(home) -> None:
    """The load check is kept per state of the file: mending the file mends the version."""
    path = trained()
    good = path.read_bytes()
    unloadable("a cut file")
    assert not mine()["trained/v1"].ok
    with_weights(path, good)
    assert mine()["trained/v1"].ok
