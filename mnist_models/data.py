"""MNIST from the bundled IDX files, held in memory as uint8 tensors."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

# The project's copy of the four original files (see data/mnist/README.md).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"
DATA_DIR_ENV = "MNIST_DATA_DIR"

# Input normalisation: the one source of truth. Models apply it themselves,
# so every caller feeds plain intensities in [0, 1] (ink = 1).
MEAN = 0.1307
STD = 0.3081

# Published SHA-256 of the *uncompressed* IDX files.
FILES = {
    ("train", "images"): (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    ("train", "labels"): (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    ("test", "images"): (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    ("test", "labels"): (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
SIZES = {"train": 60_000, "test": 10_000}


class DataError(RuntimeError):
    """A missing, truncated or corrupt MNIST file; the message names it."""


@dataclass(frozen=True)
class Split:
    """One MNIST split: images (N, 28, 28) uint8 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $MNIST_DATA_DIR, else the bundled copy."""
    if override:
        return Path(override)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def parse_idx(raw: bytes, name: str, expect_ndim: int) -> torch.Tensor:
    """Parse IDX bytes into a uint8 tensor, checking magic number and size."""
    if len(raw) < 4:
        raise DataError(f"{name}: file is truncated ({len(raw)} bytes), not an IDX file")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or ndim != expect_ndim:
        raise DataError(
            f"{name}: bad magic number 0x{raw[:4].hex()} "
            f"(expected 0x00000{800 + expect_ndim} for uint8 with {expect_ndim} dimension(s))"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: file is truncated inside its header")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    need = 1
    for d in dims:
        need *= d
    have = len(raw) - header
    if have != need:
        raise DataError(
            f"{name}: header says {'x'.join(map(str, dims))} = {need} bytes of data, "
            f"file has {have} (truncated or corrupt)"
        )
    data = torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8)
    return data.reshape(dims)


def _read(folder: Path, split: str, kind: str, verify: bool) -> torch.Tensor:
    stem, digest = FILES[(split, kind)]
    candidates = [folder / (stem + ".gz"), folder / stem]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(f"{candidates[0]}: MNIST file is missing")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read or decompressed ({exc})") from exc
    if verify and hashlib.sha256(raw).hexdigest() != digest:
        raise DataError(f"{path}: checksum mismatch, the file is corrupt or not the original")
    tensor = parse_idx(raw, str(path), 3 if kind == "images" else 1)
    n = SIZES[split]
    if tensor.shape[0] != n or (kind == "images" and tuple(tensor.shape[1:]) != (28, 28)):
        raise DataError(f"{path}: unexpected shape {tuple(tensor.shape)}")
    if kind == "labels" and int(tensor.max()) > 9:
        raise DataError(f"{path}: label above 9")
    return tensor


def _torchvision_fallback(folder: Path, split: str) -> Split:
    """Download MNIST with torchvision (needs internet) when no local copy exists."""
    from torchvision.datasets import MNIST  # imported only on this rare path

    ds = MNIST(str(folder), train=split == "train", download=True)
    return Split(ds.data.clone(), ds.targets.long().clone())


@functools.lru_cache(maxsize=4)
def _load(folder: Path, split: str, verify: bool, allow_download: bool) -> Split:
    names = [FILES[(split, k)][0] for k in ("images", "labels")]
    present = any((folder / n).is_file() or (folder / (n + ".gz")).is_file() for n in names)
    if not present and allow_download:
        try:
            return _torchvision_fallback(folder, split)
        except Exception as exc:  # no network, no torchvision, ...
            raise DataError(
                f"{folder}: no MNIST files there and the download failed ({exc})"
            ) from exc
    images = _read(folder, split, "images", verify)
    labels = _read(folder, split, "labels", verify).long()
    return Split(images, labels)


def load_split(
    split: str,
    folder: str | os.PathLike | None = None,
    verify: bool = True,
    allow_download: bool = True,
) -> Split:
    """Load 'train' (60,000) or 'test' (10,000); cached per process."""
    if split not in SIZES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return _load(data_dir(folder).resolve(), split, verify, allow_download)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    return images.unsqueeze(1).float().div_(255.0)


def select_subset(labels: torch.Tensor, n: int, first: bool = False, seed: int = 0) -> torch.Tensor:
    """Indices of n training examples: the first n, or a seeded class-balanced sample."""
    total = len(labels)
    if not 1 <= n <= total:
        raise ValueError(f"subset size must be between 1 and {total:,}, not {n}")
    if first or n == total:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    per_class = [torch.nonzero(labels == c).flatten() for c in range(10)]
    # Spread n over the classes as evenly as possible; shuffle which classes
    # get the remainder so small subsets are not biased towards low digits.
    base, extra = divmod(n, 10)
    order = torch.randperm(10, generator=g)
    counts = [base] * 10
    for c in order[:extra].tolist():
        counts[c] += 1
    picked = []
    for c, idx in enumerate(per_class):
        k = min(counts[c], len(idx))
        picked.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    chosen = torch.cat(picked)
    short = n - len(chosen)
    if short > 0:  # a class ran out (only near the full set): top up at random
        rest = torch.ones(total, dtype=torch.bool)
        rest[chosen] = False
        pool = torch.nonzero(rest).flatten()
        chosen = torch.cat([chosen, pool[torch.randperm(len(pool), generator=g)[:short]]])
    return chosen[torch.randperm(len(chosen), generator=g)]
