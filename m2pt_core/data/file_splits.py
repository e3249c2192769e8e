"""Which split each of a user's files goes to (folders, manifests, archives).

Rules, in order (README, "How your files are split"):

1. A file the tree or manifest places (train/ val/ test/ folder, or a filled ``split`` cell) keeps
   that split. Files it does not place (empty ``split`` cells) are split by the seeded hash below,
   exactly as in a manifest without the column.
2. A file nobody places goes by ``hash_split`` of its *content group's* key: byte-identical files
   (same sha1) are one item for splitting, keyed by the smallest relative path among them, so all
   copies land in one split (a file without copies keeps the split of its own path).
   A copy of a placed file follows the placed one.
3. Identical contents the user placed in different splits (a copy in train/ and in test/) stay only
   in the earliest of them (train before val before test); the other copies are dropped and
   reported, so a model can always be scored on its own test split.
4. A tree or manifest that places files in train but none in val: val is drawn from the train
   files by the seeded hash (the share val has in ``fractions``), and the note says so.

``assign_splits`` returns the part of every file (-1: dropped) and one sentence saying what was
done, which ``open_dataset`` logs and keeps on the dataset as ``.split_note``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .dataset import SPLITS
from .splits import hash_split, unit_hash

PRESET_SPLIT_RULE = "preset/2"   # rules 1-4 with every file placed by the tree / manifest
MIXED_SPLIT_RULE = "preset+hash/1"   # some files placed, the others hashed
CONTENT_HASH_SPLIT_RULE = "hash/2"   # hash_split of each content group's key (== hash/1 without copies)
DROPPED = -1


@dataclass
class SplitAssignment:
    parts: np.ndarray                 # (n,) 0 train, 1 val, 2 test, -1 dropped
    rule: str
    note: str = ""                    # what was done beyond the plain rule ("" when nothing)
    dropped: list[tuple[int, str]] = field(default_factory=list)   # (row, reason)


def _group_keys(rels: Sequence[str], digests: Sequence[str]) -> list[str]:
    """Split key of each file: the smallest relative path among the files with its content."""
    first: dict[str, str] = {}
    for r, d in zip(rels, digests):
        first[d] = min(first.get(d, r), r)
    return [first[d] for d in digests]


def _carve_val(parts: np.ndarray, keys: Sequence[str], fractions: Sequence[float], seed: int) -> int:
    """Move a seeded share val / (train + val) of the train files to val (in place); how many moved."""
    train = np.flatnonzero(parts == 0)
    share = fractions[1] / (fractions[0] + fractions[1])
    moved = [i for i in train if unit_hash(seed, "val-from-train/" + keys[i]) < share]
    parts[moved] = 1
    return len(moved)


def assign_splits(rels: Sequence[str], presets: Sequence[Optional[str]], digests: Sequence[str],
                  fractions: Sequence[float], seed: int) -> SplitAssignment:
    """Parts of files with relative paths ``rels``, preset splits (None: not placed) and content
    sha1 ``digests`` (see the module docstring for the rules)."""
    n = len(rels)
    keys = _group_keys(rels, digests)
    hashed = hash_split(keys, fractions, seed)
    placed = np.array([SPLITS.index(p) if p else DROPPED for p in presets], dtype=np.int64)
    # rule 2: a copy nobody placed follows the earliest placed copy of its content
    earliest: dict[str, int] = {}
    for d, p in zip(digests, placed):
        if p >= 0:
            earliest[d] = min(earliest.get(d, p), int(p))
    parts = np.where(placed >= 0, placed, [earliest.get(d, h) for d, h in zip(digests, hashed)]).astype(np.int64)
    notes: list[str] = []
    n_placed = int((placed >= 0).sum())
    if 0 < n_placed < n:
        rule = MIXED_SPLIT_RULE
        notes.append(f"{n - n_placed} of {n} file(s) have no split given; they were split by the seeded hash "
                     "of their path, as in a manifest without a split column")
    else:
        rule = PRESET_SPLIT_RULE if n_placed else CONTENT_HASH_SPLIT_RULE
    # rule 3: identical contents placed in several splits stay in the earliest only
    dropped = []
    for i in range(n):
        first = earliest.get(digests[i])
        if first is not None and parts[i] > first:
            dropped.append((i, f"identical to a file in the {SPLITS[first]} split; kept there only, so no "
                               "item is both trained and tested on"))
            parts[i] = DROPPED
    if dropped:
        notes.append(f"{len(dropped)} file(s) dropped: byte-identical copies of files in an earlier split")
    copies = n - len(set(digests))
    if copies and not dropped:
        notes.append(f"{copies} byte-identical cop{'y' if copies == 1 else 'ies'} kept in the split of "
                     "their original")
    # rule 4: placed train files but no val: draw val from train
    if n_placed and (parts == 0).any() and not (parts == 1).any():
        moved = _carve_val(parts, keys, fractions, seed)
        notes.append(f"no val files given: {moved} of the train files were drawn for val by the seeded hash")
    return SplitAssignment(parts, rule, "; ".join(notes) + ("." if notes else ""), dropped)
