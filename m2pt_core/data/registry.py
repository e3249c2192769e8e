"""Dataset registry: built-in and user datasets by name, with item-level, seeded splits.

Two kinds of dataset register here:
- a *generated* one gives ``items(ids, spec, seed) -> (X, y)`` and ``labels_of(ids) -> y``: item
  ``i`` is built the same way at any run size, so a run of ``size`` items is a set of ids;
- a *fixed* one (a real set, or any user builder) gives ``build(spec, seed, size) -> (X, y)``,
  called once with its default size; runs of a smaller size take a subset of it.
Either way the ids a run uses and their splits come from ``splits.BlockSplitter``: an item's split
never depends on the run's size (see splits.py), and every loaded split records its provenance.
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
from ..registries import Registry
from .dataset import DEFAULT_FRACTIONS, SPLITS, M2PTDataset
from .load import spec_modality
from .record import DataProvenance
from .splits import SPLIT_RULE, BlockSplitter
from .threads import torch_threads

Builder = Callable[[InputSpec, int, "int | None"], "tuple[torch.Tensor, torch.Tensor]"]
ItemBuilder = Callable[[Sequence[int], InputSpec, int], "tuple[torch.Tensor, torch.Tensor]"]
RawGetter = Callable[[Sequence[int], InputSpec, int], list]


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset."""

    name: str
    modality: str
    classes: tuple[str, ...]
    build: Builder | None = None           # fixed set: the whole set at once
    description: str = ""
    default_size: int | None = None       # None: the whole (real) set
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    raw: RawGetter | None = None           # raw items (before preprocessing) by id
    items: ItemBuilder | None = None       # generated set: items by id
    labels_of: Callable[[np.ndarray], np.ndarray] | None = None
    version: str = "1"                     # bump when the items a name builds change
    content_seeded: bool = True            # does the data seed change the items themselves?

    @property
    def generated(self) -> bool:
        return self.items is not None


_REGISTRY: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(
    name: str,
    modality: str,
    classes: Sequence[str],
    build: Builder | None = None,
    description: str = "",
    default_size: int | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    raw: RawGetter | None = None,
    overwrite: bool = False,
    items: ItemBuilder | None = None,
    labels_of: Callable[[np.ndarray], np.ndarray] | None = None,
    version: str = "1",
    content_seeded: bool = True,
) -> DatasetInfo:
    """Make a dataset available to ``load_dataset(name)``. Re-registering needs ``overwrite=True``.

    Give ``build`` (fixed set) or ``items`` + ``labels_of`` + ``default_size`` (generated set)."""
    if (build is None) == (items is None):
        raise ValueError("register_dataset needs exactly one of build= (a fixed set) or items= (a generated set).")
    if items is not None and (labels_of is None or not default_size):
        raise ValueError("A generated dataset (items=) also needs labels_of= and default_size=.")
    info = DatasetInfo(name, modality, tuple(classes), build, description, default_size, tuple(fractions), raw,
                       items, labels_of, str(version), content_seeded)
    _REGISTRY.register(name, info, overwrite)
    _fixed_set.cache_clear()
    _items.cache_clear()
    _splitter.cache_clear()
    return info


def list_datasets(modality: str | None = None) -> list[str]:
    """Registered dataset names (optionally of one modality), sorted."""
    return sorted(n for n, i in _REGISTRY.items() if modality is None or i.modality == modality)


def dataset_info(name: str) -> DatasetInfo:
    return _REGISTRY.get(name)


def _spec_key(spec: InputSpec) -> str:
    return json.dumps(spec_to_dict(spec), sort_keys=True)


@lru_cache(maxsize=8)
def _fixed_set(name: str, spec_json: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole set of a fixed dataset: (N, *input_shape), (N,)."""
    info = _REGISTRY.get(name)
    spec = spec_from_dict(info.modality, json.loads(spec_json))
    with torch_threads(1):  # thousands of tiny ops: one thread is much faster, see threads.py
        X, y = info.build(spec, seed, info.default_size)
    return X, y.long()


@lru_cache(maxsize=8)
def _items(name: str, spec_json: str, seed: int, ids: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    info = _REGISTRY.get(name)
    spec = spec_from_dict(info.modality, json.loads(spec_json))
    with torch_threads(1):
        X, y = info.items(ids, spec, seed)
    return X, y.long()


@lru_cache(maxsize=32)
def _splitter(name: str, seed: int) -> BlockSplitter:
    info = _REGISTRY.get(name)
    if info.generated:
        return BlockSplitter(info.labels_of, info.default_size, seed, None, info.fractions)
    if info.labels_of is not None:
        labels = np.asarray(info.labels_of(None))
    else:  # a user builder: its labels are those of the whole set
        labels = _fixed_set(name, _spec_key(default_spec(info.modality)), seed)[1].numpy()
    return BlockSplitter(lambda ids: labels[ids], len(labels), seed, len(labels), info.fractions)


def resolve_spec(info: DatasetInfo, spec: InputSpec | None) -> InputSpec:
    if spec is None:
        return default_spec(info.modality)
    if spec_modality(spec) != info.modality:
        raise M2PTError(
            f"Dataset {info.name!r} is {info.modality} data; expected a {info.modality} spec, got {type(spec).__name__}."
        )
    return spec


def full_size(name: str, seed: int = 0) -> int:
    """The number of items a run uses when it names no size."""
    info = dataset_info(name)
    if info.default_size is not None:
        return int(info.default_size)
    return int(_splitter(name, int(seed)).universe)


def _check_size(info: DatasetInfo, size: int) -> None:
    if size < 3 * len(info.classes):
        raise M2PTError(f"size={size} is too small for {info.name!r}; expected at least {3 * len(info.classes)} (3 per class).")


def split_ids(name: str, split: str = "train", seed: int = 0, size: int | None = None) -> np.ndarray:
    """Ids (positions in the dataset's universe, sorted) of the items of one split of a run.

    The same id is always the same item (for a seed), and its split never depends on ``size``."""
    info = dataset_info(name)
    size = full_size(name, seed) if size is None else int(size)
    _check_size(info, size)
    try:
        ids, parts = _splitter(name, int(seed)).select(size)
    except ValueError as e:
        raise M2PTError(f"{name!r}: {e}") from None
    if split == "all":
        return ids
    if split not in SPLITS:
        raise M2PTError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)} or 'all'.")
    return ids[parts == SPLITS.index(split)]


def split_indices(name: str, split: str = "train", spec: InputSpec | None = None, seed: int = 0,
                  size: int | None = None) -> np.ndarray:
    """Alias of ``split_ids`` (kept for callers of the old name; ``spec`` plays no part)."""
    return split_ids(name, split, seed, size)


def item_keys(name: str, ids: Sequence[int], seed: int = 0) -> list[str]:
    """Content identities of items: equal keys mean the same item (used to refuse scoring a model
    on its own training items). The seed is part of the key only where it changes the items."""
    info = dataset_info(name)
    s = f"s{int(seed)}" if info.content_seeded else "s*"
    return [f"{name}/v{info.version}/{s}/{int(i)}" for i in ids]


def provenance(name: str, seed: int = 0, size: int | None = None) -> DataProvenance:
    """What a run on (name, seed, size) used: enough to rebuild every split of it."""
    info = dataset_info(name)
    return DataProvenance(kind="builtin", name=name, version=info.version,
                          size=full_size(name, seed) if size is None else int(size), seed=int(seed),
                          fractions=tuple(info.fractions), split_rule=SPLIT_RULE, modality=info.modality)


def load_dataset(
    name: str,
    split: str = "train",
    spec: InputSpec | None = None,
    seed: int = 0,
    size: int | None = None,
) -> M2PTDataset:
    """One split ('train', 'val', 'test' or 'all') of a registered dataset.

    ``seed`` fixes generation and the split; ``size`` is the number of items across all splits
    (default: the dataset's default). Same arguments give identical tensors. Items keep their
    split whatever the size (see splits.py); ``ds.ids`` and ``ds.keys`` identify them and
    ``ds.provenance`` records how to rebuild the run's data."""
    info = dataset_info(name)
    spec = resolve_spec(info, spec)
    ids = split_ids(name, split, seed, size)
    if len(ids) == 0:   # e.g. the test split of a tiny run
        X, y = torch.zeros(0, *spec.input_shape), torch.zeros(0, dtype=torch.int64)
    elif info.generated:
        X, y = _items(name, _spec_key(spec), int(seed), tuple(int(i) for i in ids))
    else:
        X_all, y_all = _fixed_set(name, _spec_key(spec), int(seed))
        idx = torch.as_tensor(ids)
        X, y = X_all[idx], y_all[idx]
    ds = M2PTDataset(X, y, info.classes, info.modality, spec, name, split)
    ds.indices = ids                                   # ids in the universe, for raw_items
    ds.keys = item_keys(name, ids, seed)
    ds.provenance = provenance(name, seed, size)
    return ds


def raw_items(name: str, indices: Sequence[int], spec: InputSpec | None = None, seed: int = 0,
              size: int | None = None) -> list[Any]:
    """The raw data (before preprocessing) of items by id (``ds.indices``), e.g. waveforms or
    frames. ``size`` plays no part (ids do not depend on it); it is accepted for old callers."""
    info = dataset_info(name)
    if info.raw is None:
        raise M2PTError(f"Dataset {name!r} does not provide raw items.")
    return info.raw([int(i) for i in indices], resolve_spec(info, spec), int(seed))


def load_recorded_builtin(prov: DataProvenance, split: str, spec: InputSpec | None = None) -> M2PTDataset:
    """The ``split`` of a built-in dataset as a run recorded it (same version, seed and size)."""
    info = dataset_info(prov.name)
    if info.version != prov.version:
        raise M2PTError(f"The model was trained on version {prov.version} of {prov.name!r}, but this install builds "
                        f"version {info.version}; its splits cannot be rebuilt exactly.")
    return load_dataset(prov.name, split, spec=spec, seed=prov.seed, size=prov.size)


def builtin_keys(prov: DataProvenance, split: str) -> list[str]:
    """Content keys of a recorded built-in split, without building its items."""
    return item_keys(prov.name, split_ids(prov.name, split, prov.seed, prov.size), prov.seed)
