"""SessionSources: the models one session can open besides the catalog's: pairs trained in this
session, uploaded checkpoints (loaded for this session only) and pretrained checkpoints opened as
targets; and, for any name, where its model, baseline, card, log and hash come from."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd
from torch import nn

from ..analysis import lambda_trajectories, read_log
from ..errors import CheckpointError, M2PTError
from ..pathways import MINILM_NAME, count_parameters
from ..pathways.aux_weights import AuxWeights
from .catalog import Catalog
from .summaries import ModelCard, checkpoint_summary
from .pretrained import PretrainedTarget, open_pretrained
from .results import TrainedPair

NO_AUX = "(none)"
M2PT_ARM, BASELINE_ARM = " · M2PT", " · baseline"


@dataclass
class Source:
    """A target choice resolved: its read-only model, the baseline to compare it with (or None),
    the items its data had across all splits, and whether it is the same for every session."""
    model: nn.Module
    baseline: Optional[nn.Module]
    baseline_name: Optional[str]
    data_size: Optional[int]
    in_catalog: bool


class SessionSources:
    """This session's own models (freed by close()) in front of the shared catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.trained: dict[str, TrainedPair] = {}
        self.uploads: dict[str, Path] = {}            # display name → uploaded checkpoint path
        self.pretrained: dict[str, PretrainedTarget] = {}   # pretrained checkpoints opened as targets
        self._upload_models: dict[str, nn.Module] = {}
        self._upload_aux: dict[str, AuxWeights] = {}

    # -- names ---------------------------------------------------------------------------------
    def target_choices(self) -> list[str]:
        trained = [label + arm for label in self.trained for arm in (M2PT_ARM, BASELINE_ARM)]
        return self.catalog.target_names() + trained + list(self.uploads) + list(self.pretrained)

    def aux_choices(self) -> list[str]:
        return [NO_AUX] + self.catalog.aux_names() + list(self.uploads)

    def _trained_arm(self, name: str) -> Optional[tuple[TrainedPair, str]]:
        """(pair, "m2pt" | "baseline") when ``name`` is an arm of a pair trained in this session."""
        for label, p in self.trained.items():
            if name.startswith(label):
                return p, "m2pt" if name.endswith("M2PT") else "baseline"
        return None

    def default_aux(self, target: str) -> str:
        """The auxiliary a target was trained with (its pathways), else none."""
        if target.endswith(M2PT_ARM) and target[:-len(M2PT_ARM)] in self.trained:
            return self.trained[target[:-len(M2PT_ARM)]].aux
        return (self.catalog.entries().get(target) or {}).get("auxiliary") or NO_AUX

    def is_shared(self, target: str, aux: str) -> bool:
        """Catalog target with a catalog auxiliary: the same pair for every session."""
        return target in self.catalog.entries() and (aux == NO_AUX or aux in self.catalog.aux_names())

    # -- adding --------------------------------------------------------------------------------
    def add_upload(self, path: Union[str, Path]) -> str:
        """Register a checkpoint the server received as an upload; returns its display name.
        Raises if unreadable. (Typed paths go through add_path.)"""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"The uploaded file {path.name} is no longer on the server; upload it again.")
        checkpoint_summary(path)                       # raises CheckpointError when corrupt
        name = f"file: {path.name}"
        if name in self.uploads and self.uploads[name] != path:
            name = f"file: {path.name} ({len(self.uploads) + 1})"
        self.uploads[name] = path
        self._upload_models.pop(name, None)
        self._upload_aux.pop(name, None)
        return name

    def add_path(self, typed: str) -> str:
        """Register a checkpoint by a path typed on the page: only inside the folders the server
        exposes (Catalog.check_user_path); anything else is refused with one message."""
        return self.add_upload(self.catalog.check_user_path(typed))

    def typed_source(self, text: str) -> str:
        """A checkpoint named on the page for a pretrained target: a path must lie in a folder the
        server exposes; anything else is a Hugging Face name, looked up in the local cache only."""
        text = text.strip()
        if text.startswith(("/", "~", ".", "\\")) or Path(text).expanduser().exists():
            return str(self.catalog.check_user_path(text))
        return text

    def open_pretrained(self, source: Union[str, Path], dataset: Optional[str] = None,
                        num_heads: Optional[int] = None) -> PretrainedTarget:
        """A pretrained checkpoint (any layout the library reads) as a target for ``dataset``.
        ``source``: an upload's name or path, or what typed_source accepted."""
        t = open_pretrained(self.uploads.get(str(source), source), dataset, num_heads=num_heads)
        self.pretrained[t.name] = t
        return t

    def pretrained_heads(self, source: Optional[str]) -> Optional[int]:
        """Heads of a pretrained target opened from ``source`` (so training rebuilds it alike)."""
        return next((t.model.config.num_heads for t in self.pretrained.values() if t.source == source), None)

    def add_trained(self, pair: TrainedPair) -> str:
        self.trained[pair.label] = pair
        return pair.label + M2PT_ARM

    def next_train_label(self, dataset: str, aux: str) -> str:
        return f"trained #{len(self.trained) + 1} {dataset}+{aux}"

    # -- loading -------------------------------------------------------------------------------
    def upload_model(self, name: str) -> nn.Module:
        """This session's own copy of an uploaded model (freed with the session)."""
        if name not in self._upload_models:
            self._upload_models[name] = self.catalog.load_model(str(self.uploads[name]), trusted=True)
        return self._upload_models[name]

    def source(self, name: str) -> Source:
        """The model a target choice names, with its baseline."""
        for label, p in self.trained.items():
            if name == label + M2PT_ARM:
                return Source(p.m2pt, p.baseline, label + BASELINE_ARM, p.data_size, False)
            if name == label + BASELINE_ARM:
                return Source(p.baseline, None, None, p.data_size, False)
        if name in self.uploads:
            return Source(self.upload_model(name), None, None, None, False)
        if name in self.pretrained:
            return Source(self.pretrained[name].model, None, None, None, False)
        return Source(*self.catalog.open_target(name), in_catalog=True)

    def aux_weights(self, name: str) -> AuxWeights:
        if name in self.uploads:
            if name not in self._upload_aux:
                self._upload_aux[name] = self.catalog.load_aux(str(self.uploads[name]), trusted=True)
            return self._upload_aux[name]
        return self.catalog.load_aux(name)

    def aux_size(self, name: str) -> str:
        """The named model size to train a target at so that it pairs with auxiliary ``name``."""
        if name == MINILM_NAME:
            return "small6"
        found = self._trained_arm(name)
        if found is not None:
            return found[0].m2pt.config.size
        e = self.catalog.entries().get(name) or {}
        if e.get("size"):
            return e["size"]
        config = getattr(self.upload_model(name), "config", None) if name in self.uploads else None
        return getattr(config, "size", None) or "demo"

    # -- about a name --------------------------------------------------------------------------
    def card(self, name: str) -> ModelCard:
        if name in self.pretrained:
            return self.pretrained[name].card()
        found = self._trained_arm(name)
        if found is not None:
            return _trained_card(name, *found)
        if name in self.uploads:
            return self._upload_card(name)
        return self.catalog.card(name)

    def _upload_card(self, name: str) -> ModelCard:
        card = ModelCard(name, "uploaded file", extra={"path": self.uploads[name].name})
        try:
            model = self.upload_model(name)
        except M2PTError:
            card.extra["note"] = "weights only: usable as an auxiliary"
            return card
        card.modality, card.dataset, card.size = model.config.modality, model.config.dataset, model.config.size
        card.classes = list(model.config.class_names or []) or None
        card.params = count_parameters(model)[1]
        return card

    def sha256(self, name: Optional[str]) -> Optional[str]:
        """sha256 of a model's weights file: the zoo manifest's, else hashed (uploads, MiniLM)."""
        if not name:
            return None
        if name in self.uploads:
            return self.catalog.file_sha256(self.uploads[name])
        if self._trained_arm(name) is not None:
            return None                                  # trained in this session: no file
        return self.catalog.sha256(name)

    def training_log(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-epoch metrics, λ trajectories) of a model's training run; empty if unknown."""
        found = self._trained_arm(name)
        if found is not None:
            history = found[0].histories[found[1]]
            return read_log(history), lambda_trajectories(history)
        e = self.catalog.entries().get(name) or {}
        path = self.catalog.zoo_path / e["log"] if e.get("log") else None
        if path is not None and path.is_file():
            return read_log(path), lambda_trajectories(path)
        return pd.DataFrame(columns=["epoch"]), lambda_trajectories([])

    def close(self) -> None:
        self.trained.clear()
        self._upload_models.clear()
        self._upload_aux.clear()


def _trained_card(name: str, pair: TrainedPair, arm: str) -> ModelCard:
    model = pair.m2pt if arm == "m2pt" else pair.baseline
    return ModelCard(name, "trained in this session", model.config.modality, pair.dataset, model.config.size,
                     pair.aux if arm == "m2pt" else None, pair.test[arm]["acc"], count_parameters(model)[1],
                     pair.data_size, dict(pair.settings), test_items=pair.test[arm].get("n"),
                     classes=list(model.config.class_names or []) or None)


def run_digest(request: Any) -> str:
    """A short name for a training request (its folder under the session's training root)."""
    return hashlib.sha256(repr(request).encode()).hexdigest()[:12]
