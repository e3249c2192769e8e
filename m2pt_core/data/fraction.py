"""A fraction of a training split: the low-data axis of experiments and ablations.

Transfer effects grow as target data shrinks (the paper's from-scratch gains are several times its
fine-tune gains), so runs can train on 5 %, 20 %, ... of the train split while val and test stay
exactly the same items for every fraction."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import M2PTError


def fraction_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified ``fraction`` of the items (at least one per class).

    Nested: with one seed, the items of a smaller fraction are all in every larger one, so moving
    along the axis only adds data."""
    if not 0.0 < fraction <= 1.0:
        raise M2PTError(f"train fraction {fraction!r}; expected a number in (0, 1].")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        keep.append(idx[:max(1, int(np.floor(fraction * len(idx) + 0.5)))])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def train_fraction(train: Any, fraction: float, seed: int = 0) -> Any:
    """``train`` itself at fraction 1, else a seeded stratified subset whose provenance records the
    fraction (so a run on 5 % never shares a run folder with one on 100 %)."""
    if fraction == 1.0:
        return train
    out = train.subset(fraction_indices(train.y.numpy(), fraction, seed), getattr(train, "split", "train"))
    if getattr(train, "provenance", None) is not None:
        out.provenance = replace(train.provenance, extra={**train.provenance.extra,
                                                          "train_fraction": float(fraction),
                                                          "train_fraction_seed": int(seed)})
    return out
