"""Errors that never raise in their own handler, and that visitors read without server paths."""

from __future__ import annotations

import errno
import html
import logging
import os
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import can_mount_read_only, run_with_read_only
from streamlit.testing.v1 import AppTest

from app_pages import common
from mnist_models import files, text
from mnist_models.nets import networks
from mnist_models.training import jobrecord, jobs
from mnist_models.training.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
RETRAIN = str(ROOT / "app_pages" / "retrain.py")


def read_only_unlink(self, missing_ok=False):
    """Path.unlink on a read-only mount: EROFS, even for a file that is not there."""
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))


def test_atomic_write_raises_the_real_error_when_the_clean_up_fails(tmp_path, monkeypatch):
    def full(*a):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    with pytest.raises(OSError) as caught:
        files.atomic_write(tmp_path / "x.json", b"{}")
    assert caught.value.errno == errno.ENOSPC  # not the clean-up's EROFS
    assert caught.value.__context__ is None  # nothing raised while it was handled


def test_remove_quietly_logs_instead_of_raising(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    with caplog.at_level(logging.WARNING, logger="mnist_models.files"):
        assert files.remove_quietly(tmp_path / "gone") is False
    assert "Read-only file system" in caplog.text


def test_saving_versions_to_a_read_only_home_gives_the_real_error(app_home, monkeypatch):
    """The first save fails (read-only); its clean-up fails too and must not hide why."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(networks.build("mlp").state_dict(), buf)
    meta = {"train_config": {"model": "mlp", "subset": 100}, "architecture": "mlp"}

    def read_only(path, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{path.parent}/.{path.name}.x.tmp")

    monkeypatch.setattr(files, "atomic_write", read_only)
    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    with pytest.raises(OSError) as caught:
        jobrecord.save_versions([(meta, buf.getvalue())], 1.0)
    assert caught.value.errno == errno.EROFS and ".tmp" in caught.value.filename
    assert caught.value.__context__ is None


READ_ONLY_SAVE = textwrap.dedent("""
    import io, sys, torch
    from mnist_models.nets import networks
    from mnist_models.training import jobrecord
    buf = io.BytesIO()
    torch.save(networks.build("mlp").state_dict(), buf)
    meta = {"train_config": {"model": "mlp", "subset": 100}, "architecture": "mlp"}
    try:
        jobrecord.save_versions([(meta, buf.getvalue())], 1.0)
    except OSError as exc:
        print(repr(exc), exc.__context__ is None)
""")


def test_a_save_to_a_real_read_only_mount_says_why(tmp_path):
    if not can_mount_read_only():
        pytest.skip("needs a private mount namespace (root and unshare) for a read-only mount")
    home = tmp_path / "home"
    (home / "versions").mkdir(parents=True)
    command = f"{sys.executable} -c '{READ_ONLY_SAVE}'"
    r = run_with_read_only(home, command, env={files.HOME_ENV: str(home)})
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout and r.stdout.strip().endswith("True"), r.stdout


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            "OSError: [Errno 30] Read-only file system: '/srv/app/versions/2026-mlp-300.pt'",
            "OSError: [Errno 30] Read-only file system: '2026-mlp-300.pt'",
        ),
        ("The room store /srv/a/rooms.sqlite3 cannot", "The room store rooms.sqlite3 cannot"),
        ("nothing to cut, 1/2 and https://x.org/a/b", "nothing to cut, 1/2 and https://x.org/a/b"),
        ("line one\nline two", "line one line two"),
    ],
)
def test_without_paths_keeps_file_names_only(message, shown):
    assert text.without_paths(message) == shown


def test_the_app_home_is_cut_whatever_its_name(tmp_path, monkeypatch):
    home = tmp_path / "an app home"
    monkeypatch.setenv(files.HOME_ENV, str(home))
    msg = f"[Errno 13] Permission denied: '{home}/versions/x.pt'"
    assert common.without_paths(msg) == "[Errno 13] Permission denied: 'versions/x.pt'"


def test_a_failed_training_run_shows_no_server_path(app_home, monkeypatch, caplog):
    """The Retrain page says why in a sentence; the path is in the server's log only."""
    error = f"OSError: [Errno 30] Read-only file system: '{app_home}/versions/.v.pt.x1.tmp'"
    failed = jobs.JobStatus(
        state=jobs.JobState.FAILED,
        id="abc",
        runs=[jobs.RunStatus("mlp", {}, "MLP on 300 images", epochs=1)],
        error=error,
    )
    monkeypatch.setattr(jobs, "status", lambda: failed)
    at = AppTest.from_file(RETRAIN, default_timeout=60).run()
    assert not at.exception
    # Markdown as a browser shows it: escapes and word joiners gone.
    shown = [html.unescape(str(e.value).replace("\\", "").replace("\u2060", "")) for e in at.error]
    assert any("Training failed" in s and "Read-only file system" in s for s in shown), shown
    assert not any(str(app_home) in s or "/versions/" in s for s in shown), shown
    assert "versions/.v.pt.x1.tmp" in " ".join(shown)


@pytest.mark.slow  # starts a training process
def test_the_job_logs_the_whole_error(app_home, monkeypatch, caplog):
    """A save that fails: the job fails with the reason, and the log has the path."""
    manager = jobs.JobManager()
    monkeypatch.setattr(jobs, "MANAGER", manager)

    def read_only(finished, seconds):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{app_home}/versions/.v.pt.tmp")

    monkeypatch.setattr(jobrecord, "save_versions", read_only)
    monkeypatch.setattr(jobs.record, "save_versions", read_only)
    with caplog.at_level(logging.WARNING, logger="mnist_models.training.jobs"):
        manager.start(TrainConfig(model="mlp", subset=100, epochs=1))
        status = manager.wait(timeout=300)
    assert status.state == "failed" and "Read-only file system" in status.error
    assert f"{app_home}/versions/.v.pt.tmp" in caplog.text
