"""Item-level splits: an item's split (and whether a run of a given size includes it) is a
property of the item, never of how many items a run asked for.

Built-in datasets are a *universe* of items with stable ids (an index into a real set, or the
index a generator builds the same way at any size). The universe is cut into blocks of ``block``
ids; each block is split stratified by class with a seed of its own (block 0 uses ``seed`` itself,
so a run of exactly one block gets the same split as ``stratified_split`` on that block). A run of
``size`` items takes whole blocks, then a prefix of the next block in a fixed, class- and
split-balanced order (sequential Webster allocation over the (class, split) cells). So:

- an item's split depends only on (seed, its id, block): test items of one run are never training
  items of a run of another size;
- the items of a smaller run are a subset of the items of a larger one (prefixes of one order);
- every run is stratified by class and split to within one item per cell.

Folders and manifests use ``hash_split`` instead (files come and go, so there is no stable order):
the split of a file is a seeded hash of its key (e.g. its path), stratified in expectation
(file_splits.py applies it to a user's files).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

from .dataset import DEFAULT_FRACTIONS, stratified_split

SPLIT_RULE = "blocks/1"       # recorded in provenance; change it when the rule changes

LabelFn = Callable[[np.ndarray], np.ndarray]   # universe ids (n,) -> labels (n,)


def block_parts(labels: np.ndarray, fractions: Sequence[float], seed: int, block_index: int) -> np.ndarray:
    """Part id (0 = train, 1 = val, 2 = test for three fractions) of every item of one block."""
    rng_seed = seed if block_index == 0 else [seed, block_index]
    part = np.empty(len(labels), dtype=np.int64)
    for k, idx in enumerate(stratified_split(labels, fractions, rng_seed)):
        part[idx] = k
    return part


def block_order(labels: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Positions of one block in the order runs take them: prefixes are balanced over the
    (class, part) cells (item j of a cell holding a share s of the block comes at (j + 0.5) / s)."""
    n = len(labels)
    cell = labels.astype(np.int64) * (int(parts.max(initial=0)) + 1) + parts
    priority = np.empty(n, dtype=np.float64)
    for c in np.unique(cell):
        members = np.flatnonzero(cell == c)                         # in id order
        priority[members] = (np.arange(len(members)) + 0.5) * n / len(members)
    return np.lexsort((np.arange(n), labels, parts, priority))      # last key sorts first


class BlockSplitter:
    """Ids and parts of a universe for any run size. ``universe`` is the number of items of a
    finite set (None: unbounded, e.g. a generator); ``labels_of`` gives the labels of ids."""

    def __init__(self, labels_of: LabelFn, block: int, seed: int, universe: int | None = None,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS):
        if block < 1:
            raise ValueError(f"block={block}; expected a positive number of items per block.")
        self.labels_of, self.block, self.seed = labels_of, int(block), int(seed)
        self.universe, self.fractions = universe, tuple(fractions)
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, parts, order) of block b."""
        if b not in self._blocks:
            end = (b + 1) * self.block if self.universe is None else min((b + 1) * self.block, self.universe)
            ids = np.arange(b * self.block, end, dtype=np.int64)
            labels = np.asarray(self.labels_of(ids))
            parts = block_parts(labels, self.fractions, self.seed, b)
            self._blocks[b] = (ids, parts, block_order(labels, parts))
        return self._blocks[b]

    def select(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids sorted, their parts) of the ``size`` items a run of that size uses."""
        if self.universe is not None and size > self.universe:
            raise ValueError(f"size={size}, but the dataset has only {self.universe} items.")
        ids, parts = [], []
        b, left = 0, int(size)
        while left > 0:
            bid, bpart, order = self._block(b)
            take = order[:left] if left < len(bid) else np.arange(len(bid))
            ids.append(bid[take])
            parts.append(bpart[take])
            left -= len(take)
            b += 1
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        ids_all, parts_all = np.concatenate(ids), np.concatenate(parts)
        s = np.argsort(ids_all, kind="stable")
        return ids_all[s], parts_all[s]


def unit_hash(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by (seed, key)."""
    h = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def hash_split(keys: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> np.ndarray:
    """Part id of each key from a seeded hash: adding or removing other keys never moves it."""
    fr = np.asarray(fractions, dtype=np.float64)
    bounds = np.cumsum(fr / fr.sum())
    u = np.array([unit_hash(seed, k) for k in keys], dtype=np.float64)
    return np.minimum(np.searchsorted(bounds, u, side="right"), len(fr) - 1).astype(np.int64)
