"""``FileDataset``: a split of a user's files, decoded lazily and cached on disk.

Nothing is decoded at construction. ``prepare()`` streams every file once through DataLoader
workers (decode, preprocess, write the tensor to the ``TensorCache``; nothing is kept in memory)
and drops the files that fail, recording ``(file, reason)`` in ``.skipped``; afterwards
``__getitem__`` reads one cached ``.npy``. Labels (``.y``) and content keys (``.keys``) are known
from the file list alone. The train loop batches it with a DataLoader (it has no ``tensors()``),
using ``collate_fn``, which drops an item that still fails (e.g. a file deleted mid-run) instead
of ending the run.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from ..errors import InputFileError
from ..modalities import InputSpec, spec_to_dict
from .cache import TensorCache
from .dataset import M2PTDataset
from .load import load_file
from .threads import torch_threads

log = logging.getLogger(__name__)
SKIPPED_FILE = "skipped_files.tsv"   # written into a run's folder


def collate_skip(batch: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (x, y) pairs, leaving out items that could not be read (x is None)."""
    good = [b for b in batch if b[0] is not None]
    if not good:
        return torch.zeros(0), torch.zeros(0, dtype=torch.int64)
    return default_collate(good)


class FileDataset(Dataset):
    """Files of one split: ``(tensor of spec.input_shape, int label)`` per item."""

    def __init__(self, root: Path, rels: Sequence[str], labels: Sequence[int], digests: Sequence[str],
                 classes: Sequence[str], modality: str, spec: InputSpec, split: Optional[str], name: str,
                 cache: TensorCache, max_bytes: int, skipped: Optional[list[tuple[str, str]]] = None):
        self.root = Path(root)
        self.rels = list(rels)                        # path relative to root: the split key
        self.y = torch.as_tensor(list(labels), dtype=torch.int64)   # (N,)
        self.digests = list(digests)                  # sha1 of each file's bytes
        self.classes = list(classes)
        self.modality, self.spec, self.split, self.name = modality, spec, split, name
        self.cache, self.max_bytes = cache, int(max_bytes)
        self.skipped: list[tuple[str, str]] = list(skipped or [])
        self.setting = f"{modality}|{json.dumps(spec_to_dict(spec), sort_keys=True)}|{self.max_bytes}"
        self.provenance = None                        # DataProvenance, set by open_dataset
        self.indices: Optional[np.ndarray] = None     # registry ids: none for files
        self.prepared = False

    # ---------------------------------------------------------------------------- identity
    @property
    def keys(self) -> list[str]:
        """Content identity of each item: a copied or renamed file is the same item."""
        return [f"sha1:{d}" for d in self.digests]

    @property
    def paths(self) -> list[str]:
        return [str(self.root / r) for r in self.rels]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        return dict(zip(self.classes, torch.bincount(self.y, minlength=self.num_classes).tolist()))

    def __len__(self) -> int:
        return len(self.rels)

    # ---------------------------------------------------------------------------- items
    def _cache_key(self, i: int) -> str:
        return TensorCache.key(self.digests[i], self.setting)

    def _decode(self, i: int) -> tuple[Optional[torch.Tensor], Optional[str]]:
        """(tensor, None) or (None, reason); the tensor is cached, the failure noted."""
        key = self._cache_key(i)
        x = self.cache.get(key)
        if x is not None:
            return x, None
        reason = self.cache.error(key)
        if reason is not None:
            return None, reason
        try:
            with torch_threads(1):
                x = load_file(self.root / self.rels[i], modality=self.modality, spec=self.spec,
                              max_bytes=self.max_bytes)
        except InputFileError as e:
            self.cache.put_error(key, str(e))   # the file's fault: remembered for its content
            return None, str(e)
        except Exception as e:   # a decoder bug must not end the run either (not remembered: may be fixed)
            return None, f"unexpected {type(e).__name__}: {e}"
        self.cache.put(key, x)
        return x, None

    def __getitem__(self, i: int) -> tuple[Optional[torch.Tensor], int]:
        x, _ = self._decode(int(i))
        return x, int(self.y[i])

    collate_fn = staticmethod(collate_skip)

    # ---------------------------------------------------------------------------- first pass
    def prepare(self, num_workers: Optional[int] = None, batch_size: int = 32) -> "FileDataset":
        """Decode and cache every file not cached yet (in ``num_workers`` DataLoader workers), then
        drop the files that failed. Returns self; safe to call again."""
        todo = [i for i in range(len(self)) if not self.cache.has(self._cache_key(i))]
        failed: dict[int, str] = {}
        if todo:
            if num_workers is None:
                num_workers = min(2, os.cpu_count() or 1) if len(todo) >= 4 * batch_size else 0
            loader = DataLoader(_Probe(self, todo), batch_size=batch_size, num_workers=num_workers,
                                collate_fn=list, generator=torch.Generator().manual_seed(0))  # global RNG untouched
            for batch in loader:
                failed.update({i: r for i, r in batch if r is not None})
        if failed:
            self.skipped += [(str(self.root / self.rels[i]), r) for i, r in sorted(failed.items())]
            self._keep([i for i in range(len(self)) if i not in failed])
        self.prepared = True
        self.log_skipped()
        if len(self) == 0 and self.split in (None, "train", "all"):
            raise InputFileError(f"{self.name}: no file of the {self.split or 'whole'} data could be read as "
                                 f"{self.modality}; expected at least one.\n" + self.skipped_text(10))
        return self

    def _keep(self, idx: Sequence[int]) -> None:
        idx = list(idx)
        self.rels = [self.rels[i] for i in idx]
        self.digests = [self.digests[i] for i in idx]
        self.y = self.y[torch.as_tensor(idx, dtype=torch.int64)] if idx else self.y[:0]

    # ---------------------------------------------------------------------------- reports
    def skipped_text(self, limit: Optional[int] = None) -> str:
        rows = self.skipped if limit is None else self.skipped[:limit]
        more = f"\n  ... and {len(self.skipped) - len(rows)} more" if len(rows) < len(self.skipped) else ""
        return "\n".join(f"  - {p}: {r}" for p, r in rows) + more

    def log_skipped(self) -> None:
        if self.skipped:
            log.warning("%s [%s]: skipped %d file(s) that could not be used as %s (%d kept):\n%s", self.name,
                        self.split, len(self.skipped), self.modality, len(self), self.skipped_text(20))

    def to_memory(self) -> M2PTDataset:
        """The split as an in-memory ``M2PTDataset`` (small splits: the analysis tools want tensors)."""
        if not self.prepared:
            self.prepare()
        xs, ys, keep = [], [], []
        for i in range(len(self)):
            x, _ = self._decode(i)
            if x is not None:
                xs.append(x)
                ys.append(int(self.y[i]))
                keep.append(i)
        X = torch.stack(xs) if xs else torch.zeros(0, *self.spec.input_shape)
        ds = M2PTDataset(X, torch.as_tensor(ys, dtype=torch.int64), self.classes, self.modality, self.spec,
                         self.name, self.split, self.skipped, [self.paths[i] for i in keep])
        ds.keys = [self.keys[i] for i in keep]
        ds.provenance = self.provenance
        return ds

    def __repr__(self) -> str:
        return (f"FileDataset(name={self.name!r}, split={self.split!r}, modality={self.modality!r}, n={len(self)}, "
                f"classes={self.num_classes}, skipped={len(self.skipped)})")


def write_skipped(path: str | os.PathLike, splits: Mapping[str, Any]) -> Optional[Path]:
    """``file<TAB>reason`` of every file the splits skipped (once each), or None if none was."""
    seen: dict[str, str] = {}
    for ds in splits.values():
        for f, reason in getattr(ds, "skipped", None) or []:
            seen.setdefault(f, reason)
    if not seen:
        return None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["file\treason"] + [f"{f}\t{' '.join(r.split())}" for f, r in sorted(seen.items())]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


class _Probe(Dataset):
    """(index, failure reason or None) of the given items: runs the decode in a worker."""

    def __init__(self, ds: FileDataset, todo: Sequence[int]):
        self.ds, self.todo = ds, list(todo)

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, j: int) -> tuple[int, Any]:
        i = self.todo[j]
        _, reason = self.ds._decode(i)
        return i, reason
