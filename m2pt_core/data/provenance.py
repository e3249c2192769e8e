"""Which data to score a model on: the recorded splits of the data it trained on (the provenance
record, record.py), and the checks that refuse to score it on items it was trained on. The top
of the data layering (record → registry → sources → provenance); it knows the built-in and file
kinds of data itself, and asks record.PROVENANCE_LOADERS for any other."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..errors import M2PTError
from .record import (PROVENANCE_KEYS, PROVENANCE_LOADERS, DataProvenance, Loader, TrainOverlapError,  # noqa: F401
                     register_provenance_keys, register_provenance_loader)
from .registry import builtin_keys, list_datasets, load_recorded_builtin, provenance
from .sources import FILE_KINDS, load_recorded_files, open_dataset, recorded_file_keys, recorded_size, same_source


def load_from_provenance(prov: DataProvenance, split: str, spec: Any = None):
    """The ``split`` of the data a run recorded (same items, same split)."""
    if prov.kind in PROVENANCE_LOADERS:
        return PROVENANCE_LOADERS.get(prov.kind)(prov, split, spec)
    if prov.kind == "builtin":
        return load_recorded_builtin(prov, split, spec)
    if prov.kind in FILE_KINDS:
        return load_recorded_files(prov, split, spec)
    known = sorted({"builtin", *FILE_KINDS, *PROVENANCE_LOADERS.names()})
    raise M2PTError(f"No loader for data of kind {prov.kind!r}; expected one of {known}.")


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


def split_keys(prov: DataProvenance, split: str) -> list[str]:
    """Content keys of one split of the recorded data."""
    if prov.kind in PROVENANCE_KEYS:
        return list(PROVENANCE_KEYS.get(prov.kind)(prov, split))
    if prov.kind == "builtin":
        return builtin_keys(prov, split)
    if prov.kind in FILE_KINDS:
        return recorded_file_keys(prov, split)
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
