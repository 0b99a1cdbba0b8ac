"""Background training jobs on real MNIST: save, cancel, refuse, fail, activate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.nets import checkpoint, registry
from mnist_models.nets.evaluate import evaluate
from mnist_models.training import estimates, jobrecord, jobs
from mnist_models.training.train import TrainConfig

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
def home(app_home) -> Path:
    """A private app home (conftest): trained versions and active.json go there."""
    return app_home


@pytest.fixture(scope="module")
def both_done(tmp_path_factory):
    """One real head-to-head job (MLP then ConvNet, 500 balanced images, 3 epochs), finished."""
    home = tmp_path_factory.mktemp("app-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(files.HOME_ENV, str(home))
        manager = jobs.JobManager()
        manager.start([tiny("mlp", 500, 3), tiny("cnn", 500, 3)])
        status = manager.wait(timeout=300)
        yield home, status


@pytest.mark.slow  # starts a training process
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
        # The same metadata as the command line's, with the command that reproduces it.
        assert meta["source"] == "app" and meta["device"] == "cpu"
        assert meta["command"].startswith(
            f"python -m mnist_models train --model {run.model} --subset 500 --epochs 3 --seed 0"
        )
        assert meta["job_id"] == status.id and meta["job_seconds"] >= meta["train_seconds"]
    # Each result comes with the active model of its kind, measured on the same test set.
    for run in status.runs:
        shipped = registry.get_version(f"shipped/{run.model}")
        assert run.baseline["id"] == shipped.id and run.baseline["title"] == shipped.title
        assert run.baseline["test_accuracy"] == pytest.approx(shipped.test_accuracy, abs=1e-4)
        assert len(run.baseline["per_class"]) == 10
    # Saving a version never changes which model is active.
    assert not (home / "active.json").exists()
    assert registry.active_id("mlp") == "shipped/mlp"


@pytest.mark.slow  # starts a training process
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
    # No model, no temporary file; the record and the lock the servers of a hall share.
    assert set(files_under(home)) <= {"versions", "jobs.json", "jobs.lock"}
    assert json.loads((home / "jobs.json").read_text())["state"] == "cancelled"
    assert not manager.cancel()  # nothing left to cancel


@pytest.mark.slow  # starts a training process
def test_second_start_while_running_is_refused_with_what_runs(home):
    manager = jobs.JobManager()
    first = manager.start(long_run(), started_by="Ada")
    assert first.started_by == "Ada" and first.expected_end > time.time()
    try:
        with pytest.raises(
            jobs.JobBusy,
            match=r"in progress: ConvNet \(20,000 balanced images, "
            r"5 epochs\), started by Ada: .* should end about "
            r"\d\d:\d\d",
        ):
            manager.start(tiny(), started_by="Bob")
        assert not manager.clear()  # a running job cannot be forgotten either
    finally:
        manager.cancel()
        manager.wait(timeout=30)
    assert manager.status().state == "cancelled"
    # The slot is free again: a new job runs to the end.
    manager.start(tiny())
    assert manager.wait(timeout=120).state == "done"


@pytest.mark.slow  # starts a training process
def test_a_killed_training_process_fails_the_job_and_frees_the_slot(home):
    registry.set_active("mlp", "shipped/mlp")
    active_before = (home / "active.json").read_bytes()
    manager = jobs.JobManager()
    manager.start(long_run())
    wait_for(lambda: (manager.status().current_run or jobs.RunStatus("", {}, "")).batches_done >= 1)
    children = [p for p in multiprocessing_children() if p.name == "mnist-training"]
    assert children
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    status = manager.wait(timeout=30)
    assert status.state == jobs.JobState.FAILED
    assert status.error == "the training process was killed (signal 9)"
    assert files_under(registry.versions_dir()) == []
    assert (home / "active.json").read_bytes() == active_before
    manager.start(tiny())  # no JobBusy: the failure freed the slot
    assert manager.wait(timeout=120).state == "done"


def multiprocessing_children():
    import multiprocessing

    return multiprocessing.active_children()


@pytest.mark.slow  # starts a training process
def test_a_diverging_run_fails_with_a_message_and_saves_nothing(home):
    manager = jobs.JobManager()
    manager.start(tiny(lr=1e30))
    status = manager.wait(timeout=120)
    assert status.state == "failed"
    assert status.error.startswith("Diverged: the loss became nan")
    assert files_under(registry.versions_dir()) == []


def other_server(home: Path, then: str) -> subprocess.Popen:
    """Another server process on this app home: it starts a long job as Ada, prints
    "started", then runs the statement `then`."""
    code = (
        "import sys, time\n"
        "from mnist_models.training import jobs\n"
        "from mnist_models.training.train import TrainConfig\n"
        "if __name__ == '__main__':\n"
        "    jobs.start(TrainConfig(model='cnn', subset=20000, epochs=5), started_by='Ada')\n"
        "    print('started', flush=True)\n"
        f"    {then}\n"
    )
    script = home / "server.py"
    script.write_text(code)
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, files.HOME_ENV: str(home), "PYTHONPATH": str(ROOT)},
    )


def finished_record(owner_pid: int | None) -> jobs.JobStatus:
    """Record a finished ConvNet job as the server with this pid left it (None: this one)."""
    cfg = tiny("cnn", 500)
    run = jobs.RunStatus("cnn", cfg.resolved().__dict__, jobs.title(cfg), state="done")
    run.test_accuracy, run.version_id = 0.93, "trained/elsewhere-cnn"
    done = jobs.JobStatus(
        state=jobs.JobState.DONE, id="j-other", runs=[run], elapsed=42.0, started_by="Ada"
    )
    jobrecord.write(done, [cfg])
    if owner_pid is not None:
        recorded = json.loads(jobrecord.path().read_text())
        recorded["owner_pid"] = owner_pid
        jobrecord.path().write_text(json.dumps(recorded))
    return done


def test_a_job_another_server_finished_is_shown_on_this_one_until_dismissed(home):
    # The record another server of the hall left when its job ended (its process alive or
    # not: a server restarted since is another process too).
    here = jobs.JobManager()
    assert here.status().state == "idle"
    for pid in (os.getppid(), 2**22 + 12345):  # alive; gone
        finished_record(pid)
        shown = here.status()
        assert shown.state == "done" and shown.elsewhere and shown.started_by == "Ada"
        assert shown.runs[0].version_id == "trained/elsewhere-cnn" and shown.elapsed == 42.0
        assert not shown.running and not jobrecord.running_anywhere()
    # Dismissed on this server: gone from the record, so from every server.
    assert here.clear() and not jobrecord.path().exists()
    assert here.status().state == "idle" and jobs.JobManager().status().state == "idle"
    # A job of this very process is never "elsewhere".
    finished_record(None)
    assert jobrecord.finished_elsewhere() is None


@pytest.mark.slow  # starts a training process
def test_a_servers_own_finished_job_goes_when_the_hall_forgets_it(home):
    finished_record(os.getppid())
    here = jobs.JobManager()
    here.start(tiny())  # a finished job elsewhere does not hold the hall's slot
    assert here.wait(timeout=120).state == "done" and not here.status().elsewhere
    # Dismissed on another server (the record gone): gone here too.
    jobrecord.path().unlink()
    assert here.status().state == "idle"
    # Another server's job since: this server shows that one, not its own older one.
    here.start(tiny())
    assert here.wait(timeout=120).state == "done"
    finished_record(os.getppid())
    assert here.status().elsewhere and here.status().runs[0].version_id == "trained/elsewhere-cnn"


@pytest.mark.slow  # starts a training process
def test_a_job_cut_short_by_a_server_restart_is_reported_lost(home):
    # A "server" that starts a job and is killed mid-run, as kill -9 would.
    server = other_server(home, "time.sleep(120)")
    try:
        assert server.stdout.readline().strip() == "started"
        recorded = json.loads((home / "jobs.json").read_text())
        assert recorded["state"] == "running" and recorded["owner_pid"] == server.pid
    finally:
        server.kill()
        server.wait(timeout=30)
    manager = jobs.JobManager()  # the restarted server
    status = manager.status()
    assert status.state == jobs.JobState.LOST and status.error == "lost when the server stopped"
    assert status.started_by == "Ada" and status.runs[0].title.startswith("ConvNet (20,000")
    assert not status.running and not manager.cancel()
    # Forgotten on another server (the record gone): not reported lost here any more.
    kept = jobrecord.path().read_bytes()
    jobrecord.path().unlink()
    assert manager.status().state == "idle"
    jobrecord.path().write_bytes(kept)
    manager = jobs.JobManager()
    assert manager.status().state == jobs.JobState.LOST
    assert files_under(registry.versions_dir()) == []
    assert manager.clear() and manager.status().state == "idle"
    assert jobs.JobManager().status().state == "idle"  # forgotten on disk too
    manager.start(tiny())
    assert manager.wait(timeout=120).state == "done"
    assert json.loads(jobrecord.path().read_text())["state"] == "done"


@pytest.mark.slow  # starts a training process
def test_servers_sharing_an_app_home_run_one_job_and_all_show_and_cancel_it(home):
    # Another server of the hall (its own process, the same app home) starts a long job.
    other = other_server(home, "print(jobs.wait(timeout=600).state, flush=True)")
    try:
        assert other.stdout.readline().strip() == "started"
        here = jobs.JobManager()  # this server
        status = here.status()
        assert status.running and status.elsewhere and status.started_by == "Ada"
        assert status.runs[0].title.startswith("ConvNet (20,000")
        # Its progress reaches this server through the record, as it trains.
        wait_for(lambda: here.status().runs[0].batches_done > 0, timeout=300)
        assert here.status().eta is not None
        with pytest.raises(jobs.JobBusy, match="another server.*started by Ada"):
            here.start(tiny())
        assert not here.clear()  # not ours to forget
        assert here.cancel()  # asked through the app home; the other server stops it
        assert other.stdout.readline().strip() == "cancelled"
        wait_for(lambda: not here.status().running, timeout=60)
        assert files_under(registry.versions_dir()) == []
        here.start(tiny())  # the hall's slot is free again
        assert here.wait(timeout=300).state == "done"
    finally:
        other.kill()
        other.wait(timeout=30)


@pytest.mark.slow  # starts a training process
def test_failure_while_saving_removes_what_was_written(home, monkeypatch):
    real_save = checkpoint.save_weights
    calls = []

    def save_then_fail(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_weights", save_then_fail)
    manager = jobs.JobManager()
    manager.start([tiny("mlp", 100), tiny("cnn", 100)])
    status = manager.wait(timeout=120)
    assert status.state == "failed" and "No space left" in status.error
    assert len(calls) == 2  # the first version was written, then removed
    assert files_under(registry.versions_dir()) == []


@pytest.mark.slow  # starts a training process
def test_activation_persists_across_processes(both_done, monkeypatch):
    home, status = both_done
    monkeypatch.setenv(files.HOME_ENV, str(home))
    mlp, cnn = (r.version_id for r in status.runs)
    registry.set_active("mlp", mlp)
    registry.set_active("cnn", cnn)
    code = (
        "import json; from mnist_models.nets import registry; "
        "print(json.dumps([registry.active_version(a)[0].id for a in ('mlp', 'cnn')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, files.HOME_ENV: str(home)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [mlp, cnn]
    # And back to the shipped ones, also seen by a new process.
    registry.set_active("mlp", "shipped/mlp")
    registry.set_active("cnn", "shipped/cnn")
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, files.HOME_ENV: str(home)},
        timeout=120,
    )
    assert json.loads(out.stdout) == ["shipped/mlp", "shipped/cnn"]


@pytest.mark.slow  # starts a training process
def test_corrupt_version_is_marked_broken_and_refused(both_done, tmp_path, monkeypatch):
    _, status = both_done
    src = registry.get_version(status.runs[1].version_id)  # read from the job's home
    monkeypatch.setenv(files.HOME_ENV, str(tmp_path))
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


@pytest.mark.slow  # starts a training process
def test_progress_history_and_eta_while_running(home):
    manager = jobs.JobManager()
    cfg = TrainConfig(model="mlp", subset=3_000, epochs=4, eval_every=1)
    manager.start(cfg)
    seen = []
    try:
        wait_for(
            lambda: len((manager.status().current_run or jobs.RunStatus("", {}, "")).history) >= 2,
            timeout=120,
        )
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


@pytest.mark.parametrize("start", [0.0, estimates.START_SECONDS])
def test_estimate_grows_with_the_work_and_refuses_bad_configs(start):
    est = estimates.Estimator()
    small = est.run_seconds(TrainConfig(model="cnn", subset=1_000, epochs=10))
    big = est.run_seconds(TrainConfig(model="cnn", subset=1_000, epochs=100))
    assert 0 < small < big
    both = est.total(
        [
            TrainConfig(model="mlp", subset=1_000, epochs=10),
            TrainConfig(model="cnn", subset=1_000, epochs=10),
        ],
        [False, False],
        start,
    )
    assert both > small
    cold = est.total([TrainConfig(model="cnn", subset=1_000, epochs=10)], [False], 6.0)
    warm = est.total([TrainConfig(model="cnn", subset=1_000, epochs=10)], [False], 0.0)
    assert cold == pytest.approx(warm + 6.0)
    # Click to result: the run, the save and the page's redraw.
    assert warm == pytest.approx(small + est.fixed("save") + estimates.PAGE_SECONDS)
    with pytest.raises(ValueError, match="a whole number from 1 to 60,000"):
        est.run_seconds(TrainConfig(subset=0))
    assert jobs.curve_every(10) == 1 and jobs.curve_every(100) == 4
    assert 1 <= jobs.training_threads() <= max(1, os.cpu_count() or 1)


def test_observed_rates_replace_the_priors():
    est = estimates.Estimator()
    cfg = TrainConfig(model="mlp", subset=1_000, epochs=10).resolved()
    before = est.run_seconds(cfg)
    est.observe(cfg, train_seconds=100.0, eval_seconds=10.0)  # far slower than the prior
    assert est.train_rate("mlp", False) == pytest.approx(100.0)
    assert est.run_seconds(cfg) > before + 90
    assert est.train_rate("cnn", False) == estimates.networks.get("cnn").train_rate[0]


def test_invalid_jobs_are_refused_before_anything_runs(home):
    manager = jobs.JobManager()
    with pytest.raises(ValueError, match="a whole number from 1 to 60,000"):
        manager.start(tiny(subset=60_001))
    with pytest.raises(ValueError, match="different networks"):
        manager.start([tiny("mlp"), tiny("mlp")])
    with pytest.raises(ValueError, match="same subset"):
        manager.start([tiny("mlp", 300), tiny("cnn", 400)])
    assert manager.status().state == "idle"


@pytest.mark.slow  # starts a training process
def test_the_process_wide_job_and_torch_threads(home):
    before = torch.get_num_threads()
    jobs.start(tiny())
    with pytest.raises(jobs.JobBusy):
        jobs.start(tiny())
    status = jobs.wait(timeout=120)
    assert status.state == "done" and jobs.status().id == status.id
    assert jobs.clear() and jobs.status().state == "idle"
    assert torch.get_num_threads() == before


@pytest.mark.slow  # starts a training process
def test_prepare_starts_a_training_process_in_advance(home):
    manager = jobs.JobManager()
    # A ConvNet in use whose metadata has no per-digit accuracy: it must be measured.
    shipped_cnn = registry.get_version("shipped/cnn")
    meta = json.loads(checkpoint.meta_path(shipped_cnn.path).read_text())
    del meta["per_class_accuracy"]
    folder = registry.versions_dir()
    folder.mkdir(parents=True)
    shutil.copy(shipped_cnn.path, folder / "unmeasured-cnn.pt")
    checkpoint.meta_path(folder / "unmeasured-cnn.pt").write_text(json.dumps(meta))
    registry.set_active("cnn", "trained/unmeasured-cnn")
    assert manager.baselines.known("cnn") is None
    cfg = TrainConfig(model="mlp", subset=1_000, epochs=1)
    cold = manager.estimate_total([cfg])
    manager.prepare()
    manager.prepare()  # already there: nothing more
    assert manager.estimate_total([cfg]) < cold  # its start-up is under way
    # While it waits it times this machine's training: the estimate uses those rates.
    assert manager.calibrating()
    wait_for(lambda: not manager.calibrating(), timeout=180)
    calibration = manager.estimator.calibration
    assert calibration.threads == jobs.training_threads()
    assert set(calibration.train) == {"mlp/none", "cnn/none"}
    assert set(calibration.eval) == {"mlp", "cnn"}
    assert all(r > 0 for r in [*calibration.train.values(), *calibration.eval.values()])
    ready = manager.estimate_total([cfg])
    assert ready == pytest.approx(
        manager.estimator.run_seconds(cfg)
        + manager.estimator.fixed("save")
        + estimates.PAGE_SECONDS
    )
    manager.start(cfg)
    status = manager.wait(timeout=120)
    assert status.state == "done"
    # Every step of the job was timed, and the speeds kept in the home for later servers.
    steps = ["ready", "run0_training", "run0_evaluating", "run0_done", "saved"]
    assert list(status.timings) == steps
    assert [status.timings[s] for s in steps] == sorted(status.timings.values())
    kept = json.loads((files.home() / "speeds.json").read_text())
    assert kept["runs"][-1]["key"] == f"mlp/none/auto/{jobs.training_threads()}"
    assert kept["runs"][-1]["rate_calibrated"] == calibration.train["mlp/none"]
    assert set(kept["fixed"]) == {"setup", "after", "save"}  # warm: no start-up to learn
    shipped = registry.get_version("shipped/mlp")
    assert status.runs[0].baseline["test_accuracy"] == pytest.approx(
        shipped.test_accuracy, abs=1e-4
    )
    # The waiting process measured both active models, not only the one this job trained.
    cnn = manager.baselines.known("cnn")
    assert cnn["id"] == "trained/unmeasured-cnn" and len(cnn["per_class"]) == 10
    assert cnn["test_accuracy"] == pytest.approx(shipped_cnn.test_accuracy, abs=1e-4)
