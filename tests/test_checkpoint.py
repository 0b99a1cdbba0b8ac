"""Checkpoints: roundtrip, weights_only loading, and every way a file can be wrong."""

from __future__ import annotations

import argparse
import builtins
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import torch

from mnist_models import data as mdata
from mnist_models import files
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.checkpoint import CheckpointError
from mnist_models.nets.models import MLP
from mnist_models.nets.networks import build


@pytest.fixture()
def digits() -> torch.Tensor:
    """16 real test digits in [0, 1]."""
    return mdata.to_float(mdata.load_split("test").images[:16])


def saved(tmp_path: Path, arch: str = "cnn", name: str = "net.pt") -> tuple[Path, torch.nn.Module]:
    """A freshly initialised model saved to tmp_path; returns (path, model)."""
    torch.manual_seed(0)
    model = build(arch)
    path = tmp_path / name
    checkpoint.save(model, path, arch, {"title": "test", "test_accuracy": 0.5})
    return path, model


def rewrite_meta(path: Path, **changes) -> None:
    """Edit fields of a checkpoint's JSON in place."""
    mpath = checkpoint.meta_path(path)
    meta = json.loads(mpath.read_text())
    meta.update(changes)
    mpath.write_text(json.dumps(meta))


@pytest.mark.parametrize("arch", networks.keys())
def test_roundtrip(tmp_path: Path, arch: str, digits: torch.Tensor) -> None:
    path, model = saved(tmp_path, arch)
    loaded, meta = checkpoint.load(path)
    assert type(loaded) is type(model)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(digits), model(digits))
    assert meta["architecture"] == arch and meta["title"] == "test"
    assert meta["test_accuracy"] == 0.5 and meta["weights_file"] == "net.pt"
    assert meta["torch_version"] == torch.__version__
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta == checkpoint.read_metadata(path)


def test_load_accepts_the_json_path_too(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    model, _ = checkpoint.load(checkpoint.meta_path(path))
    assert model is not None


def test_channels_last_model_saves_plain_tensors(tmp_path: Path, digits: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = build("cnn").to(memory_format=torch.channels_last).eval()
    path = tmp_path / "cl.pt"
    checkpoint.save(model, path, "cnn", {})
    state = torch.load(path, weights_only=True)
    assert all(t.is_contiguous() for t in state.values())
    loaded, _ = checkpoint.load(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(digits), model(digits))


def test_file_is_a_plain_state_dict(tmp_path: Path) -> None:
    path, model = saved(tmp_path)
    state = torch.load(path, weights_only=True)
    assert list(state) == list(model.state_dict())
    assert all(isinstance(t, torch.Tensor) for t in state.values())


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    """load() uses weights_only=True: a pickled argparse.Namespace is not executed."""
    path, model = saved(tmp_path)
    buf = io.BytesIO()
    torch.save({"state": model.state_dict(), "args": argparse.Namespace(lr=1)}, buf)
    path.write_bytes(buf.getvalue())
    rewrite_meta(path, sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    with pytest.raises(CheckpointError, match=r"net\.pt: not a loadable state_dict"):
        checkpoint.load(path)


def test_sha_mismatch(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"net\.pt: sha256 does not match"):
        checkpoint.load(path)


def test_weights_replaced_by_another_checkpoint(tmp_path: Path) -> None:
    a, _ = saved(tmp_path, name="a.pt")
    torch.manual_seed(1)
    checkpoint.save(build("cnn"), tmp_path / "b.pt", "cnn", {})
    a.write_bytes((tmp_path / "b.pt").read_bytes())
    with pytest.raises(CheckpointError, match="sha256"):
        checkpoint.load(a)


def test_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.pt: checkpoint file is missing"):
        checkpoint.load(tmp_path / "nothing.pt")


def test_missing_json(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    checkpoint.meta_path(path).unlink()
    with pytest.raises(CheckpointError, match=r"net\.json: metadata file is missing"):
        checkpoint.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not readable JSON"),
        ("", "not readable JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"sha256": "00"}', "no 'architecture'"),
        ('{"architecture": "cnn"}', "no 'sha256'"),
    ],
)
def test_corrupt_json(tmp_path: Path, text: str, message: str) -> None:
    path, _ = saved(tmp_path)
    checkpoint.meta_path(path).write_text(text)
    with pytest.raises(CheckpointError, match=rf"net\.json: .*{message}"):
        checkpoint.load(path)


def test_json_that_is_not_utf8(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    checkpoint.meta_path(path).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError, match=r"net\.json"):
        checkpoint.load(path)


def test_wrong_architecture(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "cnn")
    rewrite_meta(path, architecture="mlp")
    with pytest.raises(CheckpointError, match=r"net\.pt: weights do not fit architecture 'mlp'"):
        checkpoint.load(path)


def test_weights_too_large_for_their_architecture(tmp_path: Path) -> None:
    """MLP weights (5.8 MB) labelled as a ConvNet (0.5 MB) are refused by file size alone."""
    path, _ = saved(tmp_path, "mlp")
    rewrite_meta(path, architecture="cnn")
    with pytest.raises(
        CheckpointError,
        match=r"net\.pt: checkpoint file is too large for its "
        r"architecture \(5\.8 MB; at most 1\.6 MB\)",
    ):
        checkpoint.load(path)


def test_wrong_architecture_kwargs(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "mlp")
    rewrite_meta(path, arch_kwargs={"hidden": 800})
    with pytest.raises(CheckpointError, match="do not fit"):
        checkpoint.load(path)


def test_unknown_architecture(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    rewrite_meta(path, architecture="resnet")
    with pytest.raises(CheckpointError, match=r"net\.json: architecture 'resnet' is unknown"):
        checkpoint.load(path)


def test_not_a_torch_file(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    junk = b"definitely not a zip archive"
    path.write_bytes(junk)
    rewrite_meta(path, sha256=hashlib.sha256(junk).hexdigest())
    with pytest.raises(CheckpointError, match=r"net\.pt: not a loadable state_dict"):
        checkpoint.load(path)


def test_save_refuses_bad_names(tmp_path: Path) -> None:
    model = build("mlp")
    with pytest.raises(CheckpointError, match="must end in .pt"):
        checkpoint.save(model, tmp_path / "net.pth", "mlp", {})
    with pytest.raises(CheckpointError, match="unknown architecture"):
        checkpoint.save(model, tmp_path / "net.pt", "resnet", {})
    assert list(tmp_path.iterdir()) == []


def test_save_leaves_only_the_two_files(tmp_path: Path) -> None:
    saved(tmp_path, name="a.pt")
    saved(tmp_path, name="a.pt")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.pt"]


def test_failed_write_leaves_old_files_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    path, _ = saved(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_replace(src, dst) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    torch.manual_seed(9)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(build("cnn"), path, "cnn", {"title": "new"})
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # old checkpoint intact, no .tmp files left behind
    monkeypatch.undo()
    checkpoint.load(path)


def test_atomic_write_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    files.atomic_write(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


@pytest.fixture()
def opened(monkeypatch) -> list[str]:
    """Names of the files opened during the test, by open() or pathlib."""
    names: list[str] = []
    real_open = io.open

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            names.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return names


def test_huge_weights_are_refused_without_reading(tmp_path: Path, opened: list[str]) -> None:
    """A 1.5 GB .pt (sparse: no disk used) is refused by its size; it is never opened."""
    path, _ = saved(tmp_path, "mlp")
    os.truncate(path, 1536 * 2**20)
    opened.clear()
    with pytest.raises(
        CheckpointError,
        match=r"net\.pt: checkpoint file is too large for its "
        r"architecture \(1,536\.0 MB; at most 7\.6 MB\)",
    ):
        checkpoint.load(path)
    assert opened == ["net.json"]


def test_huge_metadata_is_refused_without_reading(tmp_path: Path, opened: list[str]) -> None:
    path, _ = saved(tmp_path)
    os.truncate(checkpoint.meta_path(path), 200 * 2**20)
    opened.clear()
    with pytest.raises(
        CheckpointError,
        match=r"net\.json: metadata file is too large "
        r"\(200\.0 MB; at most 2\.0 MB\)",
    ):
        checkpoint.read_metadata(path)
    with pytest.raises(CheckpointError, match="too large"):
        checkpoint.load(path)
    assert opened == []


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000,
        '{"a": ' * 100_000,
        "1" * 5000,
        '{"architecture": "mlp", "x": ' + "9" * 5000 + "}",
    ],
)
def test_json_bombs_under_the_size_limit(tmp_path: Path, text: str) -> None:
    """Deep nesting and huge integers give one line, not a RecursionError or ValueError."""
    path, _ = saved(tmp_path)
    checkpoint.meta_path(path).write_text(text)
    with pytest.raises(CheckpointError, match=r"net\.json: metadata is not readable JSON") as e:
        checkpoint.load(path)
    assert "\n" not in str(e.value)


def test_huge_architecture_is_refused_before_anything_is_built(tmp_path: Path, monkeypatch) -> None:
    """hidden=20000 would allocate ~1.6 GB; the bounds are checked before any model exists."""
    path, _ = saved(tmp_path, "mlp")
    rewrite_meta(path, arch_kwargs={"hidden": 20000})
    built = []
    real_init = MLP.__init__
    monkeypatch.setattr(
        MLP, "__init__", lambda self, *a, **k: (built.append(k), real_init(self, *a, **k))[1]
    )
    with pytest.raises(
        CheckpointError,
        match=r"net\.json: arch_kwargs are out of bounds: MLP "
        r"argument 'hidden' must be a whole number from 1 "
        r"to 4096, not 20000",
    ):
        checkpoint.load(path)
    assert built == []


@pytest.mark.parametrize("arch", networks.keys())
def test_weights_size_limit_fits_real_checkpoints(tmp_path: Path, arch: str) -> None:
    """The limit is the architecture's own float32 weights plus a margin, above the real file."""
    path, model = saved(tmp_path, arch)
    meta = checkpoint.read_metadata(path)
    exact = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    from mnist_models.nets import metadata

    assert metadata.weights_bytes(arch, {}) == exact
    assert exact < path.stat().st_size < metadata.weights_size_limit(meta) < 2 * exact + 2**21
