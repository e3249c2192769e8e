"""A thread-safe cache capped in bytes (least recently used out first). The dashboard shares one by
every session: read-only models and prepared pairs, evaluation data, hidden states of the
unmodified models, a session's own states from its first edited layer on, the logits of every λ
setting already scored by anyone, and the bootstrap resample counts (analysis/intervals.py).

When an entry cannot fit because the rest of the budget is held by evaluations running right now,
``put`` raises ServerBusyError ("busy, try again") instead of letting memory grow without bound.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from .errors import M2PTError

DEFAULT_CACHE_BYTES = 512 * 2**20


class ServerBusyError(M2PTError):
    """The shared cache is full of entries in use right now: the request can be retried shortly."""


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors and numpy arrays in ``value`` (nested lists, tuples, dicts, modules and
    objects' attributes). Each tensor counts the bytes it spans, not its whole storage (a slice of
    a shared tensor is charged its own size), and the same region is counted once."""
    seen: set[tuple] = set()
    visited: set[int] = set()

    def span(t: torch.Tensor) -> int:   # bytes from the first to one past the last element viewed
        if t.numel() == 0:
            return 0
        return (1 + sum((n - 1) * abs(st) for n, st in zip(t.shape, t.stride()))) * t.element_size()

    def walk(v: Any) -> int:
        if isinstance(v, torch.Tensor):
            key = ("t", v.data_ptr(), tuple(v.shape), tuple(v.stride()), v.dtype)
            if key in seen:
                return 0
            seen.add(key)
            return span(v)
        if isinstance(v, np.ndarray):
            key = ("n", v.__array_interface__["data"][0], v.shape, v.strides, v.dtype.str)
            if key in seen:
                return 0
            seen.add(key)
            return int(v.nbytes)
        if isinstance(v, (str, bytes, int, float, bool, type(None))) or id(v) in visited:
            return 0
        visited.add(id(v))
        if isinstance(v, nn.Module):
            return sum(walk(t) for t in list(v.parameters()) + list(v.buffers()))
        if isinstance(v, dict):
            return sum(walk(x) for x in v.values())
        if isinstance(v, (list, tuple, set, frozenset)):
            return sum(walk(x) for x in v)
        if hasattr(v, "__dict__"):                      # dataclasses such as AuxWeights, EvalData
            return walk(vars(v))
        return 0
    return walk(value)


@dataclass
class _Entry:
    value: Any
    nbytes: int
    owner: Optional[Hashable]
    pins: int = 0


class SharedCache:
    """Thread-safe LRU of values with a byte cost; ``owner`` tags entries to drop with a session."""

    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES):
        self.budget = int(budget_bytes)
        self._entries: "OrderedDict[Hashable, _Entry]" = OrderedDict()
        self._lock = threading.Lock()
        self.used = 0
        self.evictions = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            e = self._entries.get(key)
            if e is None:
                return None
            self._entries.move_to_end(key)
            return e.value

    def put(self, key: Hashable, value: Any, nbytes: Optional[int] = None, owner: Optional[Hashable] = None,
            required: bool = True) -> Any:
        """Store ``value`` (evicting the least recently used unpinned entries) and return it.

        An entry larger than the whole budget is returned uncached. When the room is held by pinned
        entries: ServerBusyError if ``required``, else the value is returned uncached."""
        nbytes = tensor_bytes(value) if nbytes is None else int(nbytes)
        if nbytes > self.budget:
            with self._lock:                              # the old value must not be served any more
                old = self._entries.pop(key, None)
                if old is not None:
                    self.used -= old.nbytes
            return value
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old.nbytes
            pinned = sum(e.nbytes for e in self._entries.values() if e.pins)
            if pinned + nbytes > self.budget:
                if old is not None:                       # put back what was there
                    self._entries[key] = old
                    self.used += old.nbytes
                if required:
                    raise ServerBusyError("The server is busy: its memory for evaluations is in use by other "
                                          "people right now. Try again in a minute.")
                return value
            for k in [k for k, e in self._entries.items() if not e.pins]:
                if self.used + nbytes <= self.budget:
                    break
                self.used -= self._entries.pop(k).nbytes
                self.evictions += 1
            self._entries[key] = _Entry(value, nbytes, owner, pins=old.pins if old is not None else 0)
            self.used += nbytes
            return value

    @contextmanager
    def pinned(self, keys: Iterable[Hashable]) -> Iterator[None]:
        """Keep ``keys`` (those present) from eviction while an evaluation reads them."""
        keys = list(keys)
        with self._lock:
            for k in keys:
                if k in self._entries:
                    self._entries[k].pins += 1
        try:
            yield
        finally:
            with self._lock:
                for k in keys:
                    if k in self._entries and self._entries[k].pins:
                        self._entries[k].pins -= 1

    def drop_owner(self, owner: Hashable) -> int:
        """Remove every entry of ``owner`` (a session that ended); returns the bytes freed."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if e.owner == owner]
            freed = sum(self._entries[k].nbytes for k in keys)
            for k in keys:
                del self._entries[k]
            self.used -= freed
            return freed

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "used_bytes": self.used, "budget_bytes": self.budget,
                    "evictions": self.evictions}
