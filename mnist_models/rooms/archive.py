"""Reading an untrusted room export: every size is checked before anything is allocated.

A room export is a zip (``exchange``) that anyone can hand to ``room import``. This
module reads one without letting the file decide how much memory or time it costs:
a regular file of at most ``MAX_FILE_BYTES``; at most ``MAX_MEMBERS`` zip members, the
two it needs at most ``MAX_JSON_BYTES`` and ``MAX_NPZ_BYTES`` as the zip declares them,
each read with that cap; JSON at most ``MAX_JSON_DEPTH`` deep with finite numbers only;
the npz's arrays read from their npy headers, whose dtype and shape are checked against
what the JSON says before the data is touched. Whatever is wrong is one RoomError.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mnist_models.rooms.rules import RoomError

# A room of MAX_DRAWINGS drawings of about 3 kB of strokes each fits every cap.
MAX_FILE_BYTES = 100_000_000  # the zip itself
MAX_MEMBERS = 16  # members of either zip (the export has 2, the npz 5)
MAX_JSON_BYTES = 64_000_000  # room.json, uncompressed
MAX_NPZ_BYTES = 64_000_000  # room.npz, uncompressed, and all of its arrays together
MAX_JSON_DEPTH = 8  # the export nests 6 deep: drawings -> drawing -> strokes -> point
MAX_DRAWINGS = 20_000
MAX_NETWORKS = 16
MAX_NPY_HEADER = 4096
_CHUNK = 1 << 20
# What zipfile and its decompressors raise for damaged data (RuntimeError: encrypted;
# NotImplementedError: a compression method Python lacks).
_UNPACK_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
)

# The arrays of room.npz: dtype kind and item size, and their shape given the number of
# drawings n and of networks k.
ARRAYS = {
    "ids": (np.dtype("<i8"), lambda n, k: (n,)),
    "images": (np.dtype("u1"), lambda n, k: (n, 28, 28)),
    "labels": (np.dtype("i1"), lambda n, k: (n,)),
    "probs": (np.dtype("<f4"), lambda n, k: (n, k, 10)),
    "networks": (None, lambda n, k: (k,)),  # text: <U up to 64 characters
}
MAX_NETWORK_NAME = 64


def _bad(what: str) -> RoomError:
    return RoomError(f"This file is not a readable room export: {what}.")


def read_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; RoomError (one sentence)
    for anything else: a device, a folder, a pipe, a file too large, an unreadable one."""
    try:
        # O_NONBLOCK: opening a pipe must not wait for a writer; the check is on what
        # was opened, so the file cannot be swapped after the check.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise RoomError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RoomError(f"Cannot import {path}: it is not a regular file.")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_FILE_BYTES:
            raise RoomError(
                f"Cannot import {path}: {info.st_size:,} bytes is more than a room export "
                f"may be ({MAX_FILE_BYTES:,})."
            )
        try:
            data = _read_capped(f, MAX_FILE_BYTES)
        except OSError as exc:
            raise RoomError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if data is None:  # it grew while being read
        raise RoomError(f"Cannot import {path}: it is larger than a room export may be.")
    return data


def _read_capped(f: io.BufferedIOBase, cap: int) -> bytes | None:
    """At most `cap` bytes from f; None if there were more."""
    parts, size = [], 0
    while True:
        chunk = f.read(min(_CHUNK, cap + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            return None


def open_zip(data: bytes, names: set[str], what: str) -> zipfile.ZipFile:
    """A zip of few members that holds every one of `names`, else RoomError."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except _UNPACK_ERRORS as exc:
        raise _bad(f"{what} is not a zip ({exc})") from None
    infos = z.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _bad(f"{what} holds {len(infos)} files, not a room's few")
    if not names <= {i.filename for i in infos}:
        missing = ", ".join(sorted(names - {i.filename for i in infos}))
        raise RoomError(f"This zip is not a room export (it lacks {missing}).")
    return z


def member(z: zipfile.ZipFile, name: str, cap: int) -> bytes:
    """One zip member's bytes, refused before reading if it says it is larger than `cap`,
    and read with that cap whatever it says."""
    info = z.getinfo(name)
    if info.file_size > cap:
        raise RoomError(
            f"This room export is too large to import ({name} is {info.file_size:,} bytes)."
        )
    try:
        with z.open(info) as f:
            data = _read_capped(f, cap)
    except _UNPACK_ERRORS as exc:
        raise _bad(f"{name} cannot be unpacked ({exc})") from None
    if data is None:
        raise RoomError(f"This room export is too large to import ({name}).")
    return data


def _depth(text: str) -> int:
    """The most brackets open at once outside JSON strings."""
    deepest = depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number in strict JSON")


def loads(data: bytes) -> object:
    """Strict JSON: UTF-8, at most MAX_JSON_DEPTH deep, finite numbers only."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("room.json is not UTF-8 text") from None
    # Checked before parsing: Python's parser recurses, and a deep file overflows it.
    if _depth(text) > MAX_JSON_DEPTH:
        raise _bad(f"room.json is nested more than {MAX_JSON_DEPTH} deep")
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except ValueError as exc:  # also an integer too long to read
        raise _bad(f"room.json is not strict JSON ({str(exc)[:120]})") from None


def npy(data: bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The array in one .npy file of room.npz, its header checked first: the dtype that
    ARRAYS names and exactly `shape`, and the data exactly that size."""
    want, _ = ARRAYS[name]
    f = io.BytesIO(data)
    try:
        major, _minor = np.lib.format.read_magic(f)
        read_header = {
            1: np.lib.format.read_array_header_1_0,
            2: np.lib.format.read_array_header_2_0,
        }.get(major)
        if read_header is None:
            raise ValueError(f"npy version {major}")
        got_shape, fortran, dtype = read_header(f, max_header_size=MAX_NPY_HEADER)
    except Exception as exc:  # numpy's header parser raises many kinds (TokenError too)
        raise _bad(f"{name} in room.npz has no readable header ({str(exc)[:80]})") from None
    if want is None:  # network names: unicode text of bounded length
        ok = dtype.kind == "U" and dtype.itemsize <= 4 * MAX_NETWORK_NAME
    else:
        ok = dtype == want
    if not ok or dtype.hasobject:
        raise _bad(f"{name} in room.npz holds {dtype}, not what an export holds")
    if tuple(got_shape) != tuple(shape):
        raise RoomError(
            f"The room export's arrays do not match its drawings ({name} is "
            f"{tuple(got_shape)}, not {tuple(shape)})."
        )
    body = memoryview(data)[f.tell() :]
    if len(body) != math.prod(shape) * dtype.itemsize:
        raise _bad(f"{name} in room.npz is cut short or too long")
    order = "F" if fortran else "C"
    return np.frombuffer(body, dtype=dtype).reshape(shape, order=order).copy()


def read_npz(data: bytes, n: int, k: int) -> dict[str, np.ndarray]:
    """room.npz's five arrays for n drawings and k networks, each checked before it is
    read (see npy)."""
    z = open_zip(data, {f"{a}.npy" for a in ARRAYS}, "room.npz")
    with z:
        budget = MAX_NPZ_BYTES
        out = {}
        for name, (_, shape_of) in ARRAYS.items():
            raw = member(z, f"{name}.npy", budget)
            budget -= len(raw)
            out[name] = npy(raw, name, shape_of(n, k))
    return out
