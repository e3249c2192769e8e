"""The provenance record (what a run trained on, kept in every checkpoint) and the registries of
loaders for extra kinds of data. The bottom of the data layering:

    record.py       DataProvenance, TrainOverlapError, registries of extra kinds      (this file)
    registry.py     built-in datasets (and rebuilding their recorded splits)
    sources.py      user sources: folders, manifests, archives (and rebuilding theirs)
    provenance.py   which recorded split to score on, and the overlap checks          (on top)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from ..errors import M2PTError
from ..registries import Registry


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


# Extra kinds of data (beyond "builtin" and the file kinds, which provenance.py knows itself):
# kind -> loader(provenance, split, spec) -> dataset with .keys (content identity of each item)
Loader = Callable[[DataProvenance, str, Any], Any]
KeysOf = Callable[[DataProvenance, str], list]
PROVENANCE_LOADERS: Registry[Loader] = Registry("provenance loader")
PROVENANCE_KEYS: Registry[KeysOf] = Registry("provenance key reader")


def register_provenance_loader(kind: str, loader: Loader, overwrite: bool = True) -> None:
    """Teach load_from_provenance a kind of data (replacing an earlier loader of that kind)."""
    PROVENANCE_LOADERS.register(kind, loader, overwrite)


def register_provenance_keys(kind: str, keys: KeysOf, overwrite: bool = True) -> None:
    """Content keys of a split of ``kind`` without decoding it (optional; overlap checks)."""
    PROVENANCE_KEYS.register(kind, keys, overwrite)
