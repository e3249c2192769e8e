"""Dataset registry: built-in and user datasets by name, with seeded, cached train/val/test splits.

A dataset is registered as a builder ``build(spec, seed, size) -> (X, y)`` producing the whole
preprocessed set; ``load_dataset`` caches that per (name, spec, seed, size) and cuts stratified
splits from it. Builders must be deterministic for a seed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import M2PTError
from ..modalities import InputSpec, default_spec, spec_from_dict, spec_to_dict
from .dataset import DEFAULT_FRACTIONS, SPLITS, M2PTDataset, stratified_split
from .load import spec_modality
from .threads import torch_threads

Builder = Callable[[InputSpec, int, "int | None"], "tuple[torch.Tensor, torch.Tensor]"]
RawGetter = Callable[[Sequence[int], InputSpec, int, "int | None"], list]


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset."""

    name: str
    modality: str
    classes: tuple[str, ...]
    build: Builder
    description: str = ""
    default_size: int | None = None       # None: the whole (real) dataset
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    raw: RawGetter | None = None           # raw items (before preprocessing) by full-set index


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(
    name: str,
    modality: str,
    classes: Sequence[str],
    build: Builder,
    description: str = "",
    default_size: int | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    raw: RawGetter | None = None,
    overwrite: bool = False,
) -> DatasetInfo:
    """Make a dataset available to ``load_dataset(name)``. Re-registering needs ``overwrite=True``."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"A dataset named {name!r} is already registered; pass overwrite=True to replace it.")
    info = DatasetInfo(name, modality, tuple(classes), build, description, default_size, tuple(fractions), raw)
    _REGISTRY[name] = info
    _build_cached.cache_clear()
    return info


def list_datasets(modality: str | None = None) -> list[str]:
    """Registered dataset names (optionally of one modality), sorted."""
    return sorted(n for n, i in _REGISTRY.items() if modality is None or i.modality == modality)


def dataset_info(name: str) -> DatasetInfo:
    if name not in _REGISTRY:
        raise M2PTError(f"Unknown dataset {name!r}; expected one of: {', '.join(list_datasets())}.")
    return _REGISTRY[name]


def _spec_key(spec: InputSpec) -> str:
    return json.dumps(spec_to_dict(spec), sort_keys=True)


@lru_cache(maxsize=8)
def _build_cached(name: str, spec_json: str, seed: int, size: int | None) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    info = _REGISTRY[name]
    spec = spec_from_dict(info.modality, json.loads(spec_json))
    with torch_threads(1):  # thousands of tiny ops: one thread is much faster, see threads.py
        X, y = info.build(spec, seed, size)                # (N, *input_shape), (N,)
    parts = tuple(stratified_split(y.numpy(), info.fractions, seed))
    return X, y, parts


def resolve_spec(info: DatasetInfo, spec: InputSpec | None) -> InputSpec:
    if spec is None:
        return default_spec(info.modality)
    if spec_modality(spec) != info.modality:
        raise M2PTError(
            f"Dataset {info.name!r} is {info.modality} data; expected a {info.modality} spec, got {type(spec).__name__}."
        )
    return spec


def split_indices(name: str, split: str = "train", spec: InputSpec | None = None, seed: int = 0,
                  size: int | None = None) -> np.ndarray:
    """Positions in the whole generated/real set of the items in one split (sorted)."""
    info = dataset_info(name)
    spec = resolve_spec(info, spec)
    size = size if size is not None else info.default_size
    _, y, parts = _build_cached(name, _spec_key(spec), int(seed), size)
    if split == "all":
        return np.arange(len(y))
    if split not in SPLITS:
        raise M2PTError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)} or 'all'.")
    return parts[SPLITS.index(split)]


def load_dataset(
    name: str,
    split: str = "train",
    spec: InputSpec | None = None,
    seed: int = 0,
    size: int | None = None,
) -> M2PTDataset:
    """One split ('train', 'val', 'test' or 'all') of a registered dataset.

    ``seed`` fixes generation and the split; ``size`` is the number of items across all splits
    (default: the dataset's default). Same arguments give identical tensors; the whole set is
    built once per process and cached.
    """
    info = dataset_info(name)
    spec = resolve_spec(info, spec)
    size = size if size is not None else info.default_size
    if size is not None and size < 3 * len(info.classes):
        raise M2PTError(f"size={size} is too small for {name!r}; expected at least {3 * len(info.classes)} (3 per class).")
    X, y, _ = _build_cached(name, _spec_key(spec), int(seed), size)
    idx = torch.as_tensor(split_indices(name, split, spec, seed, size))
    ds = M2PTDataset(X[idx], y[idx], info.classes, info.modality, spec, name, split)
    ds.indices = idx.numpy()  # positions in the whole set, for raw_items
    return ds


def raw_items(name: str, indices: Sequence[int], spec: InputSpec | None = None, seed: int = 0,
              size: int | None = None) -> list[Any]:
    """The raw data (before preprocessing) of items of the whole set, e.g. waveforms or frames."""
    info = dataset_info(name)
    if info.raw is None:
        raise M2PTError(f"Dataset {name!r} does not provide raw items.")
    size = size if size is not None else info.default_size
    return info.raw([int(i) for i in indices], resolve_spec(info, spec), int(seed), size)
