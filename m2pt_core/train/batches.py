"""Batches from any map-style Dataset of (x, y) pairs, in an order fixed by (seed, epoch).

Datasets that can hand over all their tensors at once (``.tensors() -> (X, y)``, or a
TensorDataset) are batched by indexing those tensors: no per-item Python work. Others go through
a DataLoader over the chosen indices, with the dataset's own ``collate_fn`` when it has one (file
datasets use it to drop an item that cannot be read instead of ending the run)."""
from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset


def epoch_seed(seed: int, epoch: int) -> int:
    """One seed per (run seed, epoch): shuffling and any randomness in the epoch derive from it,
    so a resumed run replays exactly what an uninterrupted one does."""
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1)


def permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=g)


def as_tensors(data: Dataset) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """(X, y) when the dataset can provide them cheaply, else None."""
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return data.tensors[0], data.tensors[1]
    fn = getattr(data, "tensors", None)
    if callable(fn):
        X, y = fn()
        return X, torch.as_tensor(y)
    return None


def iterate(data: Dataset, indices: torch.Tensor, batch_size: int, num_workers: int = 0, seed: int = 0
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x (B, ...), y (B,)) batches over ``indices`` in order.

    A DataLoader draws its workers' base seed from the generator it is given: ours, from ``seed``,
    never torch's global one (which another run in the process may be using)."""
    tensors = as_tensors(data)
    if tensors is not None:
        X, y = tensors
        for start in range(0, len(indices), batch_size):
            idx = indices[start:start + batch_size]
            yield X[idx], y[idx]
        return
    loader = DataLoader(data, batch_size=batch_size, sampler=indices.tolist(), num_workers=num_workers,
                        collate_fn=getattr(data, "collate_fn", None), generator=torch.Generator().manual_seed(seed))
    for x, y in loader:
        if len(x):      # every item of the batch unreadable: nothing to train or score on
            yield x, torch.as_tensor(y)


def eval_shard_indices(n: int) -> torch.Tensor:
    """0..n-1 in order, or this rank's disjoint share of it under torchrun."""
    from .ddp import eval_shard
    return eval_shard(n)


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)
