"""``M2PTDataset``: a small in-memory dataset of preprocessed tensors, and stratified splits."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..modalities import InputSpec

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


class M2PTDataset(Dataset):
    """Preprocessed inputs ``X`` (N, *spec.input_shape) and integer labels ``y`` (N,).

    Items are ``(tensor, int label)``. Everything is in memory: ``tensors()`` returns all inputs
    at once, which is what small-data training and evaluation loops want.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        classes: Sequence[str],
        modality: str,
        spec: InputSpec,
        name: str = "",
        split: str | None = None,
        skipped: list[tuple[str, str]] | None = None,
        paths: list[str] | None = None,
    ):
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} items but y has {len(y)} labels; expected equal lengths.")
        self.X = X                      # (N, *input_shape) float32
        self.y = y.long()               # (N,)
        self.classes = list(classes)
        self.modality = modality
        self.spec = spec
        self.name = name
        self.split = split
        self.skipped = list(skipped or [])   # (path, reason) of files that could not be read
        self.paths = paths                   # source file of each item (folder datasets)
        self.indices: np.ndarray | None = None  # ids in the dataset's universe (registry datasets)
        self.keys: list[str] | None = None       # content identity of each item (overlap checks)
        self.provenance = None                   # DataProvenance of the run's data, when known

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.X[i], int(self.y[i])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All inputs and labels: ((N, *input_shape) float32, (N,) int64)."""
        return self.X, self.y

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.y, minlength=self.num_classes).tolist()
        return dict(zip(self.classes, counts))

    def subset(self, indices: Sequence[int] | np.ndarray, split: str | None = None) -> "M2PTDataset":
        """A new dataset holding the given items (copies, so the original stays untouched)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        paths = [self.paths[i] for i in idx.tolist()] if self.paths is not None else None
        out = M2PTDataset(self.X[idx], self.y[idx], self.classes, self.modality, self.spec,
                          self.name, split, self.skipped, paths)
        if self.indices is not None:
            out.indices = self.indices[idx.numpy()]
        if self.keys is not None:
            out.keys = [self.keys[i] for i in idx.tolist()]
        out.provenance = self.provenance
        return out

    def split_by(
        self, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
    ) -> dict[str, "M2PTDataset"]:
        """Stratified train/val/test (or as many parts as ``fractions``) subsets of this dataset."""
        parts = stratified_split(self.y.numpy(), fractions, seed)
        names = SPLITS if len(parts) == 3 else tuple(f"part{i}" for i in range(len(parts)))
        return {n: self.subset(p, n) for n, p in zip(names, parts)}

    def __repr__(self) -> str:
        return (f"M2PTDataset(name={self.name!r}, split={self.split!r}, modality={self.modality!r}, "
                f"n={len(self)}, classes={self.num_classes}, input_shape={tuple(self.X.shape[1:])})")


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> list[np.ndarray]:
    """Indices of each part, every class divided in the same proportions (seeded shuffle).

    Per class, part k ends at ``cumulative fraction * n_class`` rounded half up, so parts are
    balanced whenever the classes are. Each returned index array is sorted.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or len(fr) < 1 or (fr < 0).any() or fr.sum() <= 0:
        raise ValueError(f"fractions={tuple(fractions)}; expected non-negative numbers with a positive sum.")
    bounds = np.cumsum(fr / fr.sum())
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    labels = np.asarray(labels)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.floor(bounds * len(idx) + 0.5).astype(int)  # half up, not to even
        start = 0
        for k, end in enumerate(cuts):
            parts[k].append(idx[start:end])
            start = end
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]
