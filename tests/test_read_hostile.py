"""`python -m mnist_models read` on hostile inputs: bounded work, one line and exit 2.

Each file goes through the real command line in a fresh interpreter whose address
space is capped (resource.setrlimit RLIMIT_AS) a little above what its imports took,
so a file that makes `read` allocate without bound fails the test instead of the
machine.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from helpers import cli_under_memory_limit

from mnist_models import files
from mnist_models.cli import read as cli_read

# Everything imported and the models loaded once, as the first file would, before the limit.
SETUP = """
import torch
torch.set_num_threads(1)
from mnist_models.reading import read
read.load_active()
"""
TIME_BOUND = 60.0  # seconds for one file, on a shared 2-core machine


def read_under_limit(tmp_path: Path, paths: list[Path]) -> list[dict]:
    home = {"MNIST_APP_HOME": str(tmp_path / "home")}
    return cli_under_memory_limit(["read", "{path}"], paths, setup=SETUP, env=home)


def one_line(r: dict) -> bool:
    return len(r["err"].strip().splitlines()) == 1 and "Traceback" not in r["err"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def drawings_json(items: list) -> str:
    return json.dumps({"canvas": 336, "items": items})


GOOD = {"paths": [[[60, 60], [270, 280]], [[270, 60], [60, 280]]]}


@pytest.mark.slow  # a child interpreter per file (about 4 s)
def test_hostile_files_get_one_line_and_status_2_under_a_memory_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "no-writer.json"
    os.mkfifo(fifo)
    fifo_png = tmp_path / "no-writer.png"
    os.mkfifo(fifo_png)
    sparse = tmp_path / "sparse.json"  # 10 GB claimed by st_size, nothing on disk
    with open(sparse, "wb") as f:
        f.truncate(10 * 2**30)
    sparse_png = tmp_path / "sparse.png"
    with open(sparse_png, "wb") as f:
        f.truncate(10 * 2**30)
    made = {
        "many.json": drawings_json([{"paths": [[[1, 2], [3, 4], [5, 6]]]}] * 100_000),
        "deep.json": "[" * 300_000 + "]" * 300_000,
        "deep-items.json": '{"items": [' + "[" * 100_000 + "]" * 100_000 + "]}",
        "long-int.json": '{"items": [{"paths": [[[' + "9" * 100_000 + ", 1]]]}]}",
        "strokes.json": drawings_json([{"paths": [[[1, 2]]] * 5_000}]),
        "points.json": drawings_json([{"paths": [[[i % 300, i % 7] for i in range(200_000)]]}]),
        "huge-header.png": png_header(100_000, 100_000),
        "wide-header.png": png_header(1_000_000, 41),
        "not-utf8.json": b"\xff\xfe" * 1000,
    }
    paths = [Path("/dev/zero"), Path("/dev/urandom"), fifo, fifo_png, sparse, sparse_png]
    for name, data in made.items():
        p = tmp_path / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        paths.append(p)
    results = read_under_limit(tmp_path, paths)
    assert [r["path"] for r in results] == [str(p) for p in paths]
    for r in results:
        assert r["code"] == 2, r
        assert one_line(r) and r["err"].startswith(f"mnist_models read: error: {r['path']}"), r
        assert r["s"] < TIME_BOUND, r
    by_name = {Path(r["path"]).name: r["err"] for r in results}
    assert "not a regular file" in by_name["zero"] and "not a regular file" in by_name[fifo.name]
    assert "larger than 20 MB" in by_name["sparse.json"]
    assert "more than 10,000 drawings" in by_name["many.json"]
    assert "nested deeper" in by_name["deep.json"] and "nested deeper" in by_name["deep-items.json"]
    assert "too many strokes" in by_name["strokes.json"]
    assert "too many points" in by_name["points.json"]
    assert "too large" in by_name["huge-header.png"] and "too large" in by_name["wide-header.png"]


@pytest.mark.slow  # a child interpreter per file (about 4 s)
def test_any_file_is_read_or_refused_in_one_line_under_a_memory_limit(tmp_path: Path) -> None:
    """Random bytes, and drawings files and PNGs with random bytes flipped, cut or spliced in."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import strategies as hs
    from PIL import Image

    png = tmp_path / "seed.png"
    Image.new("L", (64, 64), 255).save(png)
    seeds = {".json": drawings_json([GOOD, GOOD]).encode(), ".png": png.read_bytes()}

    def mutate(data: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
        b = bytearray(data)
        for at, new in edits:
            i = at % max(1, len(b))
            b[i : i + len(new)] = new
        return bytes(b if cut is None else b[: cut % (len(b) + 1)])

    made: list[tuple[str, bytes]] = []
    edits = hs.lists(
        hs.tuples(hs.integers(0, 10**6), hs.binary(min_size=1, max_size=8)), max_size=6
    )
    suffix = hs.sampled_from([".json", ".png"])

    @hyp.settings(max_examples=60, deadline=None, database=None)
    @hyp.given(
        hs.one_of(
            hs.tuples(suffix, hs.binary(max_size=4000)),
            hs.builds(
                lambda s, e, c: (s, mutate(seeds[s], e, c)),
                suffix,
                edits,
                hs.none() | hs.integers(0, 10**6),
            ),
        )
    )
    def collect(case: tuple[str, bytes]) -> None:
        made.append(case)

    collect()
    paths = []
    for i, (sfx, data) in enumerate(made):
        p = tmp_path / f"random-{i}{sfx}"
        p.write_bytes(data)
        paths.append(p)
    results = read_under_limit(tmp_path, paths)
    assert len(results) == len(paths)
    for r in results:
        assert r["code"] in (0, 2), r  # read (a harmless change), or refused
        if r["code"] == 2:
            assert one_line(r), r
        assert r["s"] < TIME_BOUND, r


def test_read_capped_reads_regular_files_up_to_the_cap(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"x" * 100)
    assert files.read_capped(p, 100) == b"x" * 100
    with pytest.raises(files.Unreadable, match="larger than 99 bytes"):
        files.read_capped(p, 99)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad in (Path("/dev/zero"), fifo):
        with pytest.raises(files.Unreadable, match="not a regular file"):
            files.read_capped(bad, 10)
    with pytest.raises(files.Unreadable, match="a folder"):
        files.read_capped(tmp_path, 10)
    with pytest.raises(files.Unreadable, match="cannot be read"):
        files.read_capped(tmp_path / "missing", 10)


def test_a_file_that_claims_less_than_it_holds_is_cut_at_the_cap(tmp_path, monkeypatch):
    """st_size is only a first check: the read itself stops one byte past the cap."""
    p = tmp_path / "f.bin"
    p.write_bytes(b"x" * 5000)
    real = os.fstat

    def small(fd):
        st = real(fd)
        return os.stat_result((*st[:6], 10, *st[7:]))  # st_size: 10 bytes

    monkeypatch.setattr(os, "fstat", small)
    with pytest.raises(files.Unreadable, match="larger than 1,000 bytes"):
        files.read_capped(p, 1000)


def test_one_run_reads_a_bounded_number_of_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_read, "MAX_TOTAL_BYTES", 1000)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(drawings_json([GOOD]) + " " * 600)
    b.write_text(drawings_json([GOOD]) + " " * 600)
    budget = cli_read.Budget()
    cli_read.drawings(a, budget)
    with pytest.raises(cli_read.InputError, match="may be 0 MB in all"):
        cli_read.drawings(b, budget)


def test_a_folder_of_too_many_images_is_refused_before_any_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_read, "MAX_ITEMS", 3)
    for i in range(5):
        (tmp_path / f"{i}.png").write_bytes(b"never read")
    with pytest.raises(cli_read.InputError, match="more than 3 drawings and images"):
        cli_read.collect([tmp_path])
