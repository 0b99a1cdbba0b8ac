"""Background training jobs on real MNIST: save, cancel, refuse, fail, activate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from mnist_models import checkpoint, jobs, registry
from mnist_models import data as mdata
from mnist_models.evaluate import evaluate
from mnist_models.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def tiny(model: str = "mlp", subset: int = 300, epochs: int = 1, **kw) -> TrainConfig:
    """A run of a few seconds at most."""
    return TrainConfig(model=model, subset=subset, epochs=epochs, **kw)


def long_run() -> TrainConfig:
    """A run long enough (tens of seconds) to be caught mid-way."""
    return TrainConfig(model="cnn", subset=20_000, epochs=5)


def files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A private app home: trained versions and active.json go there."""
    monkeypatch.setenv(registry.HOME_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def both_done(tmp_path_factory):
    """One real head-to-head job (MLP then ConvNet, 500 balanced images, 3 epochs), finished."""
    home = tmp_path_factory.mktemp("app-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.HOME_ENV, str(home))
        manager = jobs.JobManager()
        manager.start([tiny("mlp", 500, 3), tiny("cnn", 500, 3)])
        status = manager.wait(timeout=300)
        yield home, status


def test_head_to_head_saves_loadable_versions_with_their_accuracy(both_done, test_split):
    home, status = both_done
    assert status.state == "done", status.error
    assert [r.model for r in status.runs] == ["mlp", "cnn"]
    assert status.current is None and status.eta is None and status.fraction == 1.0
    for run in status.runs:
        assert run.state == "done" and run.version_id.startswith("trained/")
        path = home / "versions" / (run.version_id.split("/", 1)[1] + ".pt")
        model, meta = checkpoint.load(path)
        # The recorded accuracy is what an independent evaluation of the file gives.
        report = evaluate(model, test_split.images, test_split.labels)
        assert meta["test_accuracy"] == pytest.approx(report.accuracy, abs=1e-6)
        assert meta["per_class_accuracy"] == pytest.approx(report.per_class, abs=1e-6)
        assert run.test_accuracy == pytest.approx(report.accuracy, abs=1e-6)
        assert report.accuracy > 0.3  # learned something: chance is 0.1
        cfg = meta["train_config"]
        assert (cfg["model"], cfg["subset"], cfg["epochs"]) == (run.model, 500, 3)
        assert meta["architecture"] == run.model
        assert meta["train_seconds"] > 0 and meta["title"] == run.title
        assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
        assert all(h["test_accuracy"] is not None for h in meta["history"])
        assert sum(map(sum, meta["confusion_matrix"])) == mdata.SIZES["test"]
    # Each result comes with the active model of its kind, measured on the same test set.
    for run in status.runs:
        shipped = registry.get_version(f"shipped/{run.model}")
        assert run.baseline["id"] == shipped.id and run.baseline["title"] == shipped.title
        assert run.baseline["test_accuracy"] == pytest.approx(shipped.test_accuracy, abs=1e-4)
        assert len(run.baseline["per_class"]) == 10
    # Saving a version never changes which model is active.
    assert not (home / "active.json").exists()
    assert registry.active_id("mlp") == "shipped/mlp"


def test_cancel_mid_run_stops_within_seconds_and_leaves_no_files(home):
    manager = jobs.JobManager()
    manager.start(long_run())
    wait_for(lambda: (manager.status().current_run or jobs.RunStatus("", {}, "")).batches_done >= 3)
    assert manager.status().running
    assert manager.cancel()
    t0 = time.monotonic()
    status = manager.wait(timeout=30)
    stopped = time.monotonic() - t0
    assert status.state == "cancelled", status.error
    assert status.cancel_requested
    assert stopped < 5, f"cancel took {stopped:.1f} s"  # between batches, not at the end
    assert files_under(registry.versions_dir()) == []
    assert files_under(home) in ([], ["versions"])
    assert not manager.cancel()  # nothing left to cancel


def test_second_start_while_running_is_refused_with_what_runs(home):
    manager = jobs.JobManager()
    manager.start(long_run())
    try:
        with pytest.raises(jobs.JobBusy, match=r"already running: ConvNet \(20,000"):
            manager.start(tiny())
        assert not manager.clear()  # a running job cannot be forgotten either
    finally:
        manager.cancel()
        manager.wait(timeout=30)
    assert manager.status().state == "cancelled"
    # The slot is free again: a new job runs to the end.
    manager.start(tiny())
    assert manager.wait(timeout=120).state == "done"


def test_failure_frees_the_slot_and_touches_nothing(home, monkeypatch):
    registry.set_active("mlp", "shipped/mlp")
    active_before = (home / "active.json").read_bytes()

    def out_of_memory(*args, **kwargs):
        raise MemoryError("cannot allocate 9 GB")

    monkeypatch.setattr(jobs, "train", out_of_memory)
    manager = jobs.JobManager()
    manager.start(tiny())
    status = manager.wait(timeout=60)
    assert status.state == "failed"
    assert status.error == "MemoryError: cannot allocate 9 GB"
    assert files_under(registry.versions_dir()) == []
    assert (home / "active.json").read_bytes() == active_before
    monkeypatch.undo()
    monkeypatch.setenv(registry.HOME_ENV, str(home))
    manager.start(tiny())  # no JobBusy: the failure freed the slot
    assert manager.wait(timeout=120).state == "done"


def test_failure_while_saving_removes_what_was_written(home, monkeypatch):
    real_save = checkpoint.save
    calls = []

    def save_then_fail(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(jobs.checkpoint, "save", save_then_fail)
    manager = jobs.JobManager()
    manager.start([tiny("mlp", 100), tiny("cnn", 100)])
    status = manager.wait(timeout=120)
    assert status.state == "failed" and "No space left" in status.error
    assert len(calls) == 2  # the first version was written, then removed
    assert files_under(registry.versions_dir()) == []


def test_activation_persists_across_processes(both_done, monkeypatch):
    home, status = both_done
    monkeypatch.setenv(registry.HOME_ENV, str(home))
    mlp, cnn = (r.version_id for r in status.runs)
    registry.set_active("mlp", mlp)
    registry.set_active("cnn", cnn)
    code = ("import json; from mnist_models import registry; "
            "print(json.dumps([registry.active_version(a)[0].id for a in ('mlp', 'cnn')]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, registry.HOME_ENV: str(home)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [mlp, cnn]
    # And back to the shipped ones, also seen by a new process.
    registry.set_active("mlp", "shipped/mlp")
    registry.set_active("cnn", "shipped/cnn")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, registry.HOME_ENV: str(home)}, timeout=120)
    assert json.loads(out.stdout) == ["shipped/mlp", "shipped/cnn"]


def test_corrupt_version_is_marked_broken_and_refused(both_done, tmp_path, monkeypatch):
    _, status = both_done
    src = registry.get_version(status.runs[1].version_id)  # read from the job's home
    monkeypatch.setenv(registry.HOME_ENV, str(tmp_path))
    folder = registry.versions_dir()
    folder.mkdir(parents=True)
    pt = folder / src.path.name
    blob = bytearray(src.path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte in the weights
    pt.write_bytes(bytes(blob))
    checkpoint.meta_path(pt).write_bytes(checkpoint.meta_path(src.path).read_bytes())
    vid = f"trained/{pt.stem}"
    listed = {v.id: v for v in registry.list_versions()}
    assert not listed[vid].ok and "sha256" in listed[vid].error
    with pytest.raises(ValueError, match="broken"):
        registry.set_active("cnn", vid)
    assert registry.active_id("cnn") == "shipped/cnn"
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(pt)


def test_progress_history_and_eta_while_running(home):
    manager = jobs.JobManager()
    cfg = TrainConfig(model="mlp", subset=3_000, epochs=4, eval_every=1)
    manager.start(cfg)
    seen = []
    try:
        wait_for(lambda: len((manager.status().current_run
                              or jobs.RunStatus("", {}, "")).history) >= 2, timeout=120)
        seen.append(manager.status())
    finally:
        manager.cancel()
        manager.wait(timeout=30)
    s = seen[0]
    run = s.current_run
    assert s.running and run.model == "mlp" and run.epochs == 4
    assert [h["epoch"] for h in run.history[:2]] == [1, 2]
    assert all(h["test_accuracy"] is not None for h in run.history)
    assert s.eta is not None and s.eta > 0 and 0 < s.fraction < 1
    assert "MLP" in s.describe() and "epoch" in s.describe()


def test_estimate_grows_with_the_work_and_refuses_bad_configs():
    small = jobs.estimate_seconds(TrainConfig(model="cnn", subset=1_000, epochs=10))
    big = jobs.estimate_seconds(TrainConfig(model="cnn", subset=1_000, epochs=100))
    assert 0 < small < big
    both = jobs.estimate_total([TrainConfig(model="mlp", subset=1_000, epochs=10),
                                TrainConfig(model="cnn", subset=1_000, epochs=10)])
    assert both > small
    with pytest.raises(ValueError, match="between 1 and 60,000"):
        jobs.estimate_seconds(TrainConfig(subset=0))
    assert jobs.curve_every(10) == 1 and jobs.curve_every(100) == 4
    assert 1 <= jobs.training_threads() <= max(1, os.cpu_count() or 1)


def test_invalid_jobs_are_refused_before_anything_runs(home):
    manager = jobs.JobManager()
    with pytest.raises(ValueError, match="between 1 and 60,000"):
        manager.start(tiny(subset=60_001))
    with pytest.raises(ValueError, match="different networks"):
        manager.start([tiny("mlp"), tiny("mlp")])
    with pytest.raises(ValueError, match="same subset"):
        manager.start([tiny("mlp", 300), tiny("cnn", 400)])
    assert manager.status().state == "idle"


def test_the_process_wide_job_and_torch_threads(home):
    before = torch.get_num_threads()
    jobs.start(tiny())
    with pytest.raises(jobs.JobBusy):
        jobs.start(tiny())
    status = jobs.wait(timeout=120)
    assert status.state == "done" and jobs.status().id == status.id
    assert jobs.clear() and jobs.status().state == "idle"
    assert torch.get_num_threads() == before


def test_prepare_reads_mnist_and_warms_torch_once():
    jobs.prepare()
    wait_for(lambda: jobs._warm, timeout=120)
    cfg = TrainConfig(model="mlp", subset=1_000, epochs=1)
    assert jobs.estimate_total([cfg]) < jobs.estimate_seconds(cfg) + jobs.FIRST_RUN_SECONDS
    jobs.prepare()  # already warm: nothing more to do
    assert not any(t.name == "train-prepare" for t in threading.enumerate())
