"""ExplorerSession: what one dashboard tab owns, free of any UI code.

It holds the open pair (pairing.OpenPair: its own pathway model sharing every weight tensor, so its
λ edits reach no other session) and its running jobs, and hands each job to one collaborator:

    sources   SessionSources    models of this session (trained, uploaded, pretrained) before the catalog
    lambdas   LambdaState       λ of the open model: learned, edited, asked for by a drag
    scorer    ValidationScorer  scores on the validation items, re-running only blocks after a λ change
    analyses  (module)          knockout, sweeps, weight statistics, test split, predictions
    export    (module)          the merged model with its provenance

Every public method may raise M2PTError with a message for the UI.
"""
from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import pandas as pd
from torch import nn

from ..errors import M2PTError
from . import analyses
from .jobs import JobProgress
from .catalog import Catalog
from .data import DEFAULT_MAX_EVAL
from .export import export_session, session_provenance
from .lambda_state import LambdaState
from .pairing import OpenPair, open_pair
from .results import Prediction, SessionScore, TrainedPair
from .sources import NO_AUX, SessionSources, run_digest
from .validation import ValidationScorer

ALL = "all"
_SESSION_IDS = itertools.count(1)

__all__ = ["ExplorerSession", "NO_AUX", "ALL", "Prediction", "SessionScore", "TrainedPair"]


def _of(part: str, name: str) -> property:
    """A read-only attribute of a collaborator, under the name the session always had."""
    return property(lambda self: getattr(getattr(self, part), name))


def _of_pair(name: str, default: Callable[[], Any] = lambda: None) -> property:
    """An attribute of the open pair (``default()`` when none is open)."""
    return property(lambda self: getattr(self.pair, name) if self.pair is not None else default())


class ExplorerSession:
    """One tab's explorer state: the open pair, its collaborators, and its running jobs."""

    def __init__(self, catalog: Catalog, max_eval: int = DEFAULT_MAX_EVAL):
        self.catalog = catalog
        self.max_eval = max_eval
        self.lock = threading.RLock()
        self.uid = next(_SESSION_IDS)                  # owner of this session's entries in catalog.cache
        self.sources = SessionSources(catalog)
        self.lambdas = LambdaState(self.lock, catalog.lambda_bound)
        self.scorer = ValidationScorer(catalog, self.uid, max_eval)
        self.pair: Optional[OpenPair] = None
        self.train_stop = threading.Event()             # set by the Train tab's Stop
        self.sweep_stop = threading.Event()             # set by the Pathways tab's Stop (between layers)
        self.training = False                           # a training run of this session is going on
        self.pending_train: Optional[Any] = None       # the TrainRequest of a stopped run (to resume)
        self._train_root: Optional[Path] = None         # stopped runs' last finished epochs, on disk

    # The open pair and its scores, under the names the panels and tests read.
    model = _of_pair("model")
    target_name = _of_pair("target")
    aux_name = _of_pair("aux")
    baseline = _of_pair("baseline")
    baseline_name = _of_pair("baseline_name")
    data_size = _of_pair("data_size")
    compat = _of_pair("compat")
    notes = _of_pair("notes", list)
    data, evaluator, last = _of("scorer", "data"), _of("scorer", "evaluator"), _of("scorer", "last")
    learned_acc, baseline_acc = _of("scorer", "learned_acc"), _of("scorer", "baseline_acc")
    learned_items, baseline_items = _of("scorer", "learned_items"), _of("scorer", "baseline_items")
    learned = _of("lambdas", "learned")
    trained, uploads, pretrained = _of("sources", "trained"), _of("sources", "uploads"), _of("sources", "pretrained")

    # -- models of this session ----------------------------------------------------------------
    def target_choices(self) -> list[str]:
        return self.sources.target_choices()

    def aux_choices(self) -> list[str]:
        return self.sources.aux_choices()

    def default_aux(self, target: str) -> str:
        return self.sources.default_aux(target)

    def card(self, name: str):
        return self.sources.card(name)

    def add_upload(self, path: Union[str, Path]) -> str:
        return self.sources.add_upload(path)

    def add_path(self, typed: str) -> str:
        return self.sources.add_path(typed)

    def typed_source(self, text: str) -> str:
        return self.sources.typed_source(text)

    def open_pretrained(self, source, dataset: Optional[str] = None, num_heads: Optional[int] = None):
        return self.sources.open_pretrained(source, dataset, num_heads)

    def pretrained_heads(self, source: Optional[str]) -> Optional[int]:
        return self.sources.pretrained_heads(source)

    def aux_weights(self, name: str):
        return self.sources.aux_weights(name)

    def aux_size(self, name: str) -> str:
        return self.sources.aux_size(name)

    def add_trained(self, pair: TrainedPair) -> str:
        return self.sources.add_trained(pair)

    def next_train_label(self, dataset: str, aux: str) -> str:
        return self.sources.next_train_label(dataset, aux)

    # -- opening a pair ------------------------------------------------------------------------
    def compatibility(self, target: str, aux: str, aux_layers: Any = None) -> tuple[pd.DataFrame, str]:
        """The compatibility table of a pair (without changing the session); aux_layers as attach_pathways."""
        from .compatibility import compatibility_summary, compatibility_table
        if aux == NO_AUX:
            raise M2PTError("Choose an auxiliary model to see the compatibility table.")
        table = compatibility_table(self.sources.source(target).model, self.sources.aux_weights(aux), aux_layers)
        return table, compatibility_summary(table)

    def select(self, target: str, aux: Optional[str] = None, aux_layers: Any = None) -> Optional[SessionScore]:
        """Open ``target`` with pathways to ``aux`` (None: its own auxiliary) and score it (see
        pairing.open_pair). A pair that does not fit raises and leaves the open model as it was."""
        aux = self.sources.default_aux(target) if aux is None else aux
        with self.lock:
            pair = open_pair(self.sources, target, aux, aux_layers)
            self.pair = pair
            self.lambdas.open(pair.model, target)
            return self.scorer.open(pair, aux_layers)

    def require_model(self) -> nn.Module:
        if self.model is None:
            raise M2PTError("No target model is open yet: choose one in the Models panel.")
        return self.model

    def require_pathways(self) -> nn.Module:
        return self.lambdas.require()

    # -- λ -------------------------------------------------------------------------------------
    def pathway_names(self) -> list[str]:
        return self.lambdas.names()

    def lambda_keys(self) -> list[str]:
        return self.lambdas.keys()

    def current_lambda(self, key: str) -> float:
        return self.lambdas.current(key)

    def learned_lambda(self, key: str) -> float:
        return self.lambdas.learned_value(key)

    def lambda_frame(self) -> pd.DataFrame:
        return self.lambdas.frame()

    def lambda_long(self) -> pd.DataFrame:
        return self.lambdas.long()

    def lambdas_edited(self) -> bool:
        return self.lambdas.edited()

    def set_lambda(self, key: str, value: float) -> SessionScore:
        """Set λ of one pathway, or of every pathway of a layer ("layer 3 · all"), and re-score.
        |λ| beyond the catalog's bound, or a non-finite λ, is refused (M2PTError)."""
        with self.lock:
            self.lambdas.set(key, value)
            return self.scorer.score(self.target_name)

    def set_lambda_frame(self, frame: pd.DataFrame, decimals: Optional[int] = None) -> SessionScore:
        """Set every λ from a layer × component table (LambdaState.set_frame) and re-score."""
        with self.lock:
            self.lambdas.set_frame(frame, decimals)
            return self.scorer.score(self.target_name)

    def reset_lambdas(self) -> SessionScore:
        """Back to the learned λ (or 0 for freshly attached pathways)."""
        with self.lock:
            self.lambdas.reset()
            return self.scorer.score(self.target_name)

    # -- analyses and export -------------------------------------------------------------------
    def job(self, what: str, report: Optional[Callable[[float, str], None]] = None) -> JobProgress:
        return analyses.job(self, what, report)

    def knockout(self, progress: Optional[JobProgress] = None) -> pd.DataFrame:
        return analyses.knockout(self, progress)

    def sweep_mode(self) -> str:
        return analyses.sweep_mode(self)

    def sweep(self, grid: Optional[Sequence[float]] = None, mode: Optional[str] = None,
              progress: Optional[JobProgress] = None) -> Iterator[tuple[int, int, pd.DataFrame]]:
        return analyses.sweep(self, grid, mode, progress)

    def sweep_reference(self) -> dict[str, Any]:
        return analyses.sweep_reference(self)

    def score_test(self, progress: Optional[JobProgress] = None) -> str:
        return analyses.score_test(self, progress)

    def score_whole_split(self, progress: Optional[JobProgress] = None) -> str:
        return analyses.score_whole_split(self, progress)

    def evidence(self) -> str:
        return analyses.evidence(self)

    def weight_stats(self) -> pd.DataFrame:
        return analyses.weight_stats(self)

    def training_log(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-epoch metrics, λ trajectories) of the open model's training run; empty if unknown."""
        return self.sources.training_log(self.target_name or "")

    def predict(self, path: Union[str, Path], k: int = 5) -> Prediction:
        return analyses.predict(self, path, k)

    def provenance(self) -> dict[str, Any]:
        return session_provenance(self)

    def export(self, out_dir: Union[str, Path]) -> dict[str, Any]:
        return export_session(self, out_dir)

    # -- training runs and the end -------------------------------------------------------------
    def train_dir(self, req: Any) -> Path:
        """Where a training run of this session keeps its last finished epoch (one per request)."""
        if self._train_root is None:
            self._train_root = Path(tempfile.mkdtemp(prefix="m2pt-train-"))
        return self._train_root / run_digest(req)

    def release_cache(self) -> int:
        """Drop this session's entries from the shared cache (the page was closed; it may come back,
        and then recomputes them). Returns the bytes freed."""
        return self.scorer.release()

    def close(self) -> None:
        """Free this session's models and caches (gr.State delete callback)."""
        self.train_stop.set()
        self.scorer.close()
        self.pair = None
        self.lambdas.open(None, None)
        self.sources.close()
        if self._train_root is not None:
            shutil.rmtree(self._train_root, ignore_errors=True)
