"""Data provenance: what a run trained on, recorded in every checkpoint, so that evaluation
defaults to the same data and refuses to score a model on items it was trained on.

A provenance rebuilds every split of the run's data through a loader registered for its ``kind``
("builtin" for registry datasets; folder-like kinds register their own loader)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..errors import M2PTError


class TrainOverlapError(M2PTError):
    """The items to score include items the model was trained on."""


@dataclass(frozen=True)
class DataProvenance:
    """Where a run's data came from. ``name`` is a dataset name, or a folder / manifest / archive
    path; ``fingerprint`` identifies the file list of folder-like data."""

    kind: str                                   # "builtin", "folder", "manifest", "archive", ...
    name: str
    version: str = "1"
    size: int = 0                               # items across all splits
    seed: int = 0                               # data seed: generation and split
    fractions: tuple[float, ...] = (0.70, 0.15, 0.15)
    split_rule: str = ""
    modality: str = ""
    fingerprint: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataProvenance":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "kind" not in known or "name" not in known:
            raise M2PTError(f"Data provenance {d!r} lacks 'kind' or 'name'; expected a dict written by DataProvenance.")
        known["fractions"] = tuple(known.get("fractions", (0.70, 0.15, 0.15)))
        return cls(**known)

    def describe(self) -> str:
        src = self.name if self.kind == "builtin" else f"{self.kind} {self.name}"
        return f"{src} (size {self.size}, data seed {self.seed}, split {self.split_rule or '?'})"


# kind -> loader(provenance, split, spec) -> dataset with .keys (content identity of each item)
Loader = Callable[[DataProvenance, str, Any], Any]
_LOADERS: dict[str, Loader] = {}


def register_provenance_loader(kind: str, loader: Loader) -> None:
    _LOADERS[kind] = loader


def load_from_provenance(prov: DataProvenance, split: str, spec: Any = None):
    """The ``split`` of the data a run recorded (same items, same split)."""
    if prov.kind not in _LOADERS:
        raise M2PTError(f"No loader for data of kind {prov.kind!r}; expected one of {sorted(_LOADERS)}.")
    return _LOADERS[prov.kind](prov, split, spec)


def _builtin(prov: DataProvenance, split: str, spec: Any):
    from .registry import dataset_info, load_dataset
    info = dataset_info(prov.name)
    if info.version != prov.version:
        raise M2PTError(f"The model was trained on version {prov.version} of {prov.name!r}, but this install builds "
                        f"version {info.version}; its splits cannot be rebuilt exactly.")
    return load_dataset(prov.name, split, spec=spec, seed=prov.seed, size=prov.size)


register_provenance_loader("builtin", _builtin)


def check_disjoint(train_keys: Sequence[str], eval_keys: Sequence[str], what: str = "the evaluation data") -> None:
    """Raise TrainOverlapError naming the overlap if any evaluation item is a training item."""
    overlap = set(train_keys).intersection(eval_keys)
    if overlap:
        examples = ", ".join(sorted(overlap)[:3])
        raise TrainOverlapError(
            f"{len(overlap)} of the {len(eval_keys)} items of {what} are items the model was trained on "
            f"(e.g. {examples}); its score there would be inflated. Score another split (the default is the "
            f"model's own test split), or pass allow_train_overlap (CLI --allow-train-overlap) to score anyway.")


def overlap_count(train_keys: Sequence[str], eval_keys: Sequence[str]) -> int:
    return len(set(train_keys).intersection(eval_keys))


# kind -> keys(provenance, split): content keys of a split without decoding it (optional)
_KEYS: dict[str, Callable[[DataProvenance, str], list]] = {}


def _builtin_keys(prov: DataProvenance, split: str) -> list[str]:
    from .registry import item_keys, split_ids
    return item_keys(prov.name, split_ids(prov.name, split, prov.seed, prov.size), prov.seed)


_KEYS["builtin"] = _builtin_keys


def register_provenance_keys(kind: str, keys: Callable[[DataProvenance, str], list]) -> None:
    _KEYS[kind] = keys


def split_keys(prov: DataProvenance, split: str) -> list[str]:
    """Content keys of one split of the recorded data."""
    if prov.kind in _KEYS:
        return list(_KEYS[prov.kind](prov, split))
    return list(load_from_provenance(prov, split).keys or [])


def model_provenance(model: Any) -> Optional[DataProvenance]:
    """The data a model was trained on: its recorded provenance, or, for checkpoints written before
    provenance was recorded, its config's dataset at the default size and data seed 0 (how every
    bundled zoo model was trained; ``extra['assumed']`` says so). None if nothing is known."""
    d = getattr(model, "data_provenance", None)
    if d:
        return DataProvenance.from_dict(d)
    name = getattr(getattr(model, "config", None), "dataset", None)
    if not name:
        return None
    from .registry import list_datasets, provenance
    if name not in list_datasets():
        return None
    p = provenance(name, 0, None)
    return DataProvenance(**{**p.__dict__, "extra": {"assumed": "assumed to be the default size with data seed 0 (no provenance recorded)"}})


@dataclass
class EvalChoice:
    """The data chosen to score a model, and what was checked about it."""

    data: Any                          # the dataset (with .keys)
    split: str
    provenance: Optional[DataProvenance]
    train_overlap: Optional[int]       # items that are training items of the model (None: unknown)
    note: str = ""

    def describe(self) -> str:
        own = getattr(self.data, "provenance", None) or self.provenance
        src = own.describe() if own else getattr(self.data, "name", "?")
        s = f"{len(self.data)} {self.split} items of {src}"
        if self.train_overlap:
            s += f"; WARNING: {self.train_overlap} of them are training items of this model"
        return s + (f" ({self.note})" if self.note else "")


def eval_dataset(model: Any, split: str = "test", dataset: Optional[str] = None, seed: Optional[int] = None,
                 size: Optional[int] = None, allow_train_overlap: bool = False) -> EvalChoice:
    """The ``split`` of the data ``model`` was trained on (same items, same split rule), or of
    ``dataset`` / ``seed`` / ``size`` where given. Refuses (TrainOverlapError) to score on items
    the model was trained on, unless ``allow_train_overlap``; the result says how many there were."""
    from .sources import open_dataset, recorded_size, same_source
    prov = model_provenance(model)
    spec = getattr(getattr(model, "config", None), "input", None)
    if dataset is None and seed is None and size is None:
        if prov is None:
            raise M2PTError("The model records no training data; name the dataset to score it on.")
        data = load_from_provenance(prov, split, spec)
    else:
        same = prov is not None and (dataset is None or same_source(prov, dataset))
        name = dataset or (prov.name if prov is not None else None)
        if name is None:
            raise M2PTError("The model records no training data; name the dataset to score it on.")
        data = open_dataset(name, split, spec=spec, seed=prov.seed if seed is None and same else (seed or 0),
                            size=recorded_size(prov) if size is None and same else size)
    overlap = None
    if prov is not None and getattr(data, "keys", None) is not None:
        train_keys = split_keys(prov, "train")
        overlap = overlap_count(train_keys, data.keys)
        if overlap and not allow_train_overlap:
            check_disjoint(train_keys, data.keys, f"the {split} split you asked for")
    note = "" if prov is None or not prov.extra.get("assumed") else f"training data {prov.extra['assumed']}"
    if prov is None or overlap is None:
        note = "no training data recorded: overlap with training items not checked"
    return EvalChoice(data, split, prov, overlap, note)
