"""Run many tiny torch ops on one intra-op thread, unless a server has pinned the thread count.

Dataset generation calls small kernels (a 1 s fbank, a 32x32 resample) thousands of times. With
several threads each call pays a synchronisation cost, and when other processes share the cores
the spinning threads make it ~10x slower (measured: 16 ms vs 1.7 ms per fbank on 2 busy cores).

``torch.set_num_threads`` is process-wide, and CPU results can depend on it. A process that runs
several jobs at once (the dashboard) calls ``pin_threads`` once at start: from then on
``torch_threads`` leaves the count alone, so no job changes it under another's feet.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

_pinned: Optional[int] = None


def pin_threads(n: int) -> None:
    """Set torch's intra-op thread count for the whole process and keep it (see module doc)."""
    global _pinned
    torch.set_num_threads(n)
    _pinned = n


def threads_pinned() -> Optional[int]:
    return _pinned


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads(n)``; the previous value is restored on exit.
    A no-op once ``pin_threads`` was called."""
    if _pinned is not None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
