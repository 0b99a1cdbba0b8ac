"""Shared fixtures: the real MNIST splits, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import helpers
import pg
import pytest
import torch

from mnist_models import data as mdata
from mnist_models.nets import registry
from mnist_models.rooms.store import open_store
from mnist_models.training import pipeline
from mnist_models.training.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `-n 2` on two cores: one thread a worker (and for the interpreters it starts), not
    # two workers each running two threads that wait for each other's core.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)

# Published class counts of MNIST: an oracle independent of our reader.
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def train_split() -> mdata.Split:
    """All 60,000 training images and labels (bundled files, checksums verified)."""
    return mdata.load_split("train")


@pytest.fixture(scope="session")
def test_split() -> mdata.Split:
    """All 10,000 test images and labels."""
    return mdata.load_split("test")


@pytest.fixture(scope="session")
def small_test(test_split: mdata.Split) -> mdata.Split:
    """The first 2,000 test images: enough to tell learning from chance, quickly."""
    return mdata.Split(test_split.images[:2000], test_split.labels[:2000])


@pytest.fixture()
def seeded() -> None:
    """Seed torch's global generator so model initialisation is repeatable."""
    torch.manual_seed(1234)


@pytest.fixture()
def app_home(tmp_path: Path, monkeypatch) -> Path:
    """A private app home for the test: trained versions, active.json, jobs and rooms go
    to a temporary folder instead of the project's trained/."""
    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path))
    return tmp_path


PRESENTER_PASSCODE = "test-passcode-1"


@pytest.fixture()
def presenter(monkeypatch):
    """unlock(at) gives an AppTest session the presenter's rights, through the real gate
    (made afresh with a known passcode, and dropped afterwards)."""
    from app_pages import presenter_ui

    monkeypatch.setenv("MNIST_PRESENTER_PASSCODE", PRESENTER_PASSCODE)
    presenter_ui.gate.clear()
    gate = presenter_ui.gate()

    def unlock(at):
        at.session_state[presenter_ui.TOKEN_KEY] = gate.unlock(
            PRESENTER_PASSCODE, name="Test presenter"
        )
        return at

    yield unlock
    presenter_ui.gate.clear()


# ---------------------------------------------------------------- room stores

ROOM_STORE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server for the session (tests/pg.py); skipped without one,
    except in CI."""
    with pg.postgres_server() as server:
        yield server


@pytest.fixture(params=ROOM_STORE_KINDS)
def room_databases(request, tmp_path: Path):
    """Makes fresh, empty room databases of one kind per param: each call gives one's address
    (an SQLite file, or a database on the session's PostgreSQL server)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").new_database
    made = iter(range(1_000_000))
    return lambda: str(tmp_path / f"rooms-{next(made)}.sqlite3")


@pytest.fixture()
def room_url(room_databases) -> str:
    """The address of a fresh, empty room database (every kind of store in turn)."""
    return room_databases()


@pytest.fixture()
def room_store(room_url: str):
    """A room store on a fresh database (every kind of store in turn), closed afterwards."""
    s = open_store(room_url)
    yield s
    s.close()


@pytest.fixture()
def third_network():
    """A third network ("tiny", a linear classifier) in the network table for one test,
    removed after it; pages and commands see it as they see the two shipped ones."""
    with helpers.third_network() as net:
        yield net


@pytest.fixture()
def third_network_in_use(third_network, app_home, train_split, test_split):
    """The third network trained (600 images, 2 epochs), saved as a version in a private
    app home and chosen there: (Network, version id)."""
    cfg = TrainConfig(model="tiny", subset=600, epochs=2, eval_every=0, threads=1, device="cpu")
    fitted = pipeline.fit(cfg, train_split=train_split, test_split=test_split)
    path = registry.new_version_path("tiny", 600, "20260101-000000")
    fitted.save(path)
    version = registry.set_active("tiny", f"trained/{path.stem}")
    return third_network, version.id


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test that times out waiting for the page runs once more (pytest-rerunfailures;
    the summary counts it as a rerun): with several Chromium pages, a server and its fragments
    on two shared cores, a wait can run out without anything being wrong. Any other failure,
    or a second timeout, fails it."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=["^TimeoutError: "]))
