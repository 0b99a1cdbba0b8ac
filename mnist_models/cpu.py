"""The machine's cores: how many threads torch gets, set here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
