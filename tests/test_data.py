"""The IDX reader, the checksums and subset selection, on the real MNIST files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import pytest
import torch
from conftest import TEST_CLASS_COUNTS, TRAIN_CLASS_COUNTS

from mnist_models import data as mdata

TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def idx_bytes(array: torch.Tensor) -> bytes:
    """A uint8 tensor as IDX bytes, written independently of the reader."""
    dims = list(array.shape)
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    return header + array.contiguous().numpy().tobytes()


@pytest.fixture()
def test_copy(tmp_path: Path) -> Path:
    """A folder with uncompressed copies of the two real test-set files."""
    for stem in (TEST_IMAGES, TEST_LABELS):
        raw = gzip.decompress((mdata.DEFAULT_DATA_DIR / (stem + ".gz")).read_bytes())
        (tmp_path / stem).write_bytes(raw)
    return tmp_path


def load_test(folder: Path, verify: bool = True) -> mdata.Split:
    """Load the test split from folder, never falling back to a download."""
    return mdata.load_split("test", folder, verify=verify, allow_download=False)


# --- the real files ---------------------------------------------------------


def test_train_split_shapes_and_class_counts(train_split: mdata.Split) -> None:
    assert train_split.images.shape == (60_000, 28, 28)
    assert train_split.images.dtype == torch.uint8
    assert train_split.labels.dtype == torch.int64
    assert torch.bincount(train_split.labels).tolist() == TRAIN_CLASS_COUNTS
    assert int(train_split.labels[0]) == 5  # the famous first digit


def test_test_split_shapes_and_class_counts(test_split: mdata.Split) -> None:
    assert test_split.images.shape == (10_000, 28, 28)
    assert torch.bincount(test_split.labels).tolist() == TEST_CLASS_COUNTS
    assert int(test_split.labels[0]) == 7
    # Real digits: white background, some full ink, about 19% of pixels inked.
    assert int(test_split.images.max()) == 255
    assert 0.15 < float((test_split.images > 0).float().mean()) < 0.25


def test_published_checksums_match_bundled_files() -> None:
    for stem, digest in mdata.FILES.values():
        raw = gzip.decompress((mdata.DEFAULT_DATA_DIR / (stem + ".gz")).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == digest, stem


def test_sha256sums_list_the_compressed_files() -> None:
    lines = (mdata.DEFAULT_DATA_DIR / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split()) for line in lines if line.strip())
    assert len(listed) == 4
    for name, digest in listed.items():
        blob = (mdata.DEFAULT_DATA_DIR / name).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == digest, name


def test_unknown_split_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="valid"):
        mdata.load_split("valid")


def test_uncompressed_copy_loads_identically(test_copy: Path, test_split: mdata.Split) -> None:
    split = load_test(test_copy)
    assert torch.equal(split.images, test_split.images)
    assert torch.equal(split.labels, test_split.labels)


def test_environment_variable_selects_folder(monkeypatch, test_copy: Path) -> None:
    monkeypatch.setenv(mdata.DATA_DIR_ENV, str(test_copy))
    assert mdata.data_dir() == test_copy
    assert mdata.data_dir(mdata.DEFAULT_DATA_DIR) == mdata.DEFAULT_DATA_DIR
    monkeypatch.delenv(mdata.DATA_DIR_ENV)
    assert mdata.data_dir() == mdata.DEFAULT_DATA_DIR


def test_to_float_scales_and_adds_channel(test_split: mdata.Split) -> None:
    x = mdata.to_float(test_split.images[:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.allclose(x[:, 0] * 255, test_split.images[:5].float())


# --- parse_idx on hand-made bytes ---------------------------------------------


def test_parse_idx_roundtrip() -> None:
    array = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    assert torch.equal(mdata.parse_idx(idx_bytes(array), "x", 3), array)


@pytest.mark.parametrize(
    "magic",
    [
        b"\x00\x00\x08\x01",  # labels' magic where images are expected
        b"\x00\x00\x09\x03",  # int8, not uint8
        b"\x00\x00\x0d\x03",  # float
        b"\x01\x00\x08\x03",  # first two bytes must be zero
        b"\x1f\x8b\x08\x00",  # a gzip header: someone forgot to decompress
    ],
)
def test_parse_idx_rejects_bad_magic(magic: bytes) -> None:
    raw = magic + idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8))[4:]
    with pytest.raises(mdata.DataError, match=r"^images\.bin: bad magic number"):
        mdata.parse_idx(raw, "images.bin", 3)


@pytest.mark.parametrize("keep", [0, 3, 8, 15, 16 + 28 * 28 * 2 - 1])
def test_parse_idx_rejects_truncation(keep: int) -> None:
    raw = idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8))
    with pytest.raises(mdata.DataError, match=r"^images\.bin: .*truncated"):
        mdata.parse_idx(raw[:keep], "images.bin", 3)


def test_parse_idx_rejects_trailing_bytes() -> None:
    raw = idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8)) + b"\x00"
    with pytest.raises(mdata.DataError, match="file has 1569"):
        mdata.parse_idx(raw, "images.bin", 3)


# --- corrupt copies of the real files: every error names the file -------------


def test_missing_file_is_named(test_copy: Path) -> None:
    (test_copy / TEST_LABELS).unlink()
    with pytest.raises(mdata.DataError, match=f"{TEST_LABELS}.*missing"):
        load_test(test_copy)


def test_empty_folder_without_download_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(mdata.DataError, match=f"{TEST_IMAGES}.*missing"):
        load_test(tmp_path)


def test_flipped_byte_fails_checksum(test_copy: Path) -> None:
    path = test_copy / TEST_IMAGES
    raw = bytearray(path.read_bytes())
    before = raw[5000]
    raw[5000] ^= 0xFF  # one pixel of one digit
    path.write_bytes(bytes(raw))
    with pytest.raises(mdata.DataError, match=f"{TEST_IMAGES}: checksum mismatch"):
        load_test(test_copy)
    # Without verification the flipped pixel is read as it is (16-byte header).
    assert int(load_test(test_copy, verify=False).images.flatten()[5000 - 16]) == before ^ 0xFF


def test_truncated_file_is_named(test_copy: Path) -> None:
    path = test_copy / TEST_IMAGES
    path.write_bytes(path.read_bytes()[:-784])  # the last image cut off
    for verify in (True, False):
        with pytest.raises(mdata.DataError, match=TEST_IMAGES):
            load_test(test_copy, verify=verify)
    with pytest.raises(mdata.DataError, match="truncated or corrupt"):
        load_test(test_copy, verify=False)


def test_bad_magic_in_file_is_named(test_copy: Path) -> None:
    path = test_copy / TEST_LABELS
    raw = bytearray(path.read_bytes())
    raw[3] = 3  # labels claim three dimensions
    path.write_bytes(bytes(raw))
    with pytest.raises(mdata.DataError, match=f"{TEST_LABELS}: bad magic number"):
        load_test(test_copy, verify=False)


def test_wrong_image_count_is_named(test_copy: Path, test_split: mdata.Split) -> None:
    (test_copy / TEST_IMAGES).write_bytes(idx_bytes(test_split.images[:100]))
    with pytest.raises(mdata.DataError, match=f"{TEST_IMAGES}: unexpected shape"):
        load_test(test_copy, verify=False)


def test_label_above_nine_is_named(test_copy: Path, test_split: mdata.Split) -> None:
    labels = test_split.labels.to(torch.uint8).clone()
    labels[17] = 10
    (test_copy / TEST_LABELS).write_bytes(idx_bytes(labels))
    with pytest.raises(mdata.DataError, match=f"{TEST_LABELS}: label above 9"):
        load_test(test_copy, verify=False)


def test_corrupt_gzip_is_named(tmp_path: Path) -> None:
    for stem in (TEST_IMAGES, TEST_LABELS):
        shutil.copy(mdata.DEFAULT_DATA_DIR / (stem + ".gz"), tmp_path / (stem + ".gz"))
    gz = tmp_path / (TEST_IMAGES + ".gz")
    gz.write_bytes(gz.read_bytes()[:100_000])
    with pytest.raises(mdata.DataError, match=f"{TEST_IMAGES}.gz: cannot be read"):
        load_test(tmp_path)


def test_not_gzip_at_all_is_named(tmp_path: Path) -> None:
    for stem in (TEST_IMAGES, TEST_LABELS):
        (tmp_path / (stem + ".gz")).write_bytes(b"this is not a gzip file")
    with pytest.raises(mdata.DataError, match=f"{TEST_IMAGES}.gz"):
        load_test(tmp_path)


# --- subset selection ---------------------------------------------------------


@pytest.mark.parametrize("n", [10, 1000, 5000])
def test_balanced_subset_has_equal_class_counts(train_split: mdata.Split, n: int) -> None:
    idx = mdata.select_subset(train_split.labels, n, seed=3)
    assert len(idx) == n and len(set(idx.tolist())) == n
    assert torch.bincount(train_split.labels[idx], minlength=10).tolist() == [n // 10] * 10


def test_balanced_remainder_is_spread_over_classes(train_split: mdata.Split) -> None:
    remainders = torch.zeros(10, dtype=torch.long)
    for seed in range(20):
        idx = mdata.select_subset(train_split.labels, 1005, seed=seed)
        counts = torch.bincount(train_split.labels[idx], minlength=10)
        assert sorted(counts.tolist()) == [100] * 5 + [101] * 5
        remainders += counts - 100
    # Which classes get the extra image is random: not always the low digits.
    assert int(remainders[5:].sum()) > 0 and int(remainders[:5].sum()) > 0


def test_tiny_subsets(train_split: mdata.Split) -> None:
    one = mdata.select_subset(train_split.labels, 1, seed=0)
    assert len(one) == 1
    three = mdata.select_subset(train_split.labels, 3, seed=0)
    assert len(set(train_split.labels[three].tolist())) == 3


def test_first_n_is_the_first_n(train_split: mdata.Split) -> None:
    assert mdata.select_subset(train_split.labels, 1000, first=True).tolist() == list(range(1000))
    # The blog's 1,000 images are not balanced: that is the point of --first.
    counts = torch.bincount(train_split.labels[:1000], minlength=10).tolist()
    assert counts == [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]


def test_subset_is_deterministic_per_seed(train_split: mdata.Split) -> None:
    a = mdata.select_subset(train_split.labels, 500, seed=7)
    b = mdata.select_subset(train_split.labels, 500, seed=7)
    c = mdata.select_subset(train_split.labels, 500, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Shuffled, not grouped by class (the loop permutes anyway; the app shows these).
    assert train_split.labels[a[:50]].unique().numel() > 5


def test_subset_near_full_size_tops_up_without_duplicates(train_split: mdata.Split) -> None:
    n = 59_000  # 5,900 per class is more than the 5,421 fives: a top-up is needed
    idx = mdata.select_subset(train_split.labels, n, seed=0)
    assert len(idx) == n and idx.unique().numel() == n
    counts = torch.bincount(train_split.labels[idx], minlength=10)
    assert int(counts[5]) == 5421  # every five is used


def test_full_set_is_everything(train_split: mdata.Split) -> None:
    idx = mdata.select_subset(train_split.labels, 60_000)
    assert sorted(idx.tolist()) == list(range(60_000))


@pytest.mark.parametrize("n", [0, -1, 60_001])
def test_subset_bounds(train_split: mdata.Split, n: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 60,000"):
        mdata.select_subset(train_split.labels, n)
