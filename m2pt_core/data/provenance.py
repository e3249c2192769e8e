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
