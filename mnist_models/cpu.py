"""The machine's CPU: how many threads torch gets, and which training precision pays."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def default_threads() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for the block, then as before.

    One drawing is a tiny amount of work: a second thread only adds waiting, and
    when the other core is busy (the browser, a training job) the two threads'
    hand-offs made one ConvNet pass in the app server take ~50 ms instead of ~1 ms.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


# --- training precision -------------------------------------------------------

PRECISIONS = ("auto", "fp32", "bf16")
# CPU flags with bfloat16 dot products in hardware; elsewhere (AVX2 only) torch
# emulates bf16 and a step is slower than in fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_native_bf16(capability: str, flags: frozenset[str]) -> bool:
    """Whether a CPU computes bf16 natively: torch's AVX512 kernels and a bf16 flag."""
    # torch picks its bf16 kernels by capability: without the AVX512 build path the
    # flag alone does not make autocast fast.
    return capability.upper().startswith("AVX512") and bool(NATIVE_BF16_FLAGS & flags)


def choose_precision(
    requested: str, device: str, native_bf16: bool, bf16_faster: Callable[[], bool]
) -> str:
    """'fp32' or 'bf16' for a training run: what was asked, or on auto what pays here.

    bf16_faster is called only when its answer decides (auto on a native-bf16 CPU).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device != "cpu" or not native_bf16:  # accelerators: fp32, as before (not measured)
        return "fp32"
    return "bf16" if bf16_faster() else "fp32"


_BF16_FASTER: bool | None = None
# A bf16 product must take at most this share of the fp32 one's time (1.25x faster).
BF16_MAX_TIME_SHARE = 0.8


def bf16_faster() -> bool:
    """Whether a bf16 matrix product beats fp32 here; measured once per process (~0.05 s)."""
    global _BF16_FASTER
    if _BF16_FASTER is None:
        fp32, bf16 = _time_mm()
        _BF16_FASTER = bf16 < BF16_MAX_TIME_SHARE * fp32
    return _BF16_FASTER


def _time_mm(n: int = 512, rounds: int = 5) -> tuple[float, float]:
    """Best seconds of two n x n products in fp32 and in bf16 (the MLP's layers are of
    this size), on one thread, the two taken in turns.

    On a busy machine, timing one dtype and then the other (on every thread, where one
    descheduled thread stalls the rest) once found bf16 7x slower on a CPU where it is
    3.5x faster: in turns and on one thread, other work slows both alike.
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    pairs = {dtype: (a.to(dtype), b.to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(pairs, float("inf"))
    with one_thread():
        for r in range(rounds + 1):
            for dtype, (x, y) in pairs.items():
                t0 = time.perf_counter()
                torch.mm(x, y)
                torch.mm(x, y)
                if r:  # the first round picks the kernels
                    best[dtype] = min(best[dtype], time.perf_counter() - t0)
    return best[torch.float32], best[torch.bfloat16]


def training_precision(requested: str = "auto", device: str = "cpu") -> str:
    """The precision a training run on this machine uses: 'fp32' or 'bf16'."""
    native = has_native_bf16(torch.backends.cpu.get_cpu_capability(), cpu_flags())
    return choose_precision(requested, device, native, bf16_faster)
