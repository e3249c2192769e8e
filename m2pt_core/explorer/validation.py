"""ValidationScorer: the open pair's scores on its validation items, for one session.

A λ change re-runs only the blocks from the first changed layer on (SharedEvaluator); hidden
states and logits live in the catalog's byte-capped cache, shared where they are the same for
everyone (a catalog pair) and owned by the session otherwise. Per-item results of the learned λ
and of the baseline are kept for paired intervals without re-evaluation.
"""
from __future__ import annotations

import time
from typing import Hashable, Optional

from ..errors import M2PTError
from .catalog import Catalog
from .data import EvalData, eval_data
from .evaluation import SharedEvaluator, shared_logits
from .pairing import OpenPair
from .results import SessionScore
from .scoring import Items, item_results, make_score


class ValidationScorer:
    """Scores of one session's open pair; ``owner`` names the session's own cache entries."""

    def __init__(self, catalog: Catalog, owner: Hashable, max_eval: int):
        self.catalog, self.owner, self.max_eval = catalog, owner, max_eval
        self.data: Optional[EvalData] = None
        self.evaluator: Optional[SharedEvaluator] = None
        self.learned_acc: Optional[float] = None
        self.baseline_acc: Optional[float] = None
        self.learned_items: Optional[Items] = None
        self.baseline_items: Optional[Items] = None
        self.baseline_name: Optional[str] = None
        self.last: Optional[SessionScore] = None
        self._generation = 0                           # pairs opened so far (keys of non-shared weights)

    def release(self) -> int:
        """Drop this session's own entries from the shared cache; returns the bytes freed."""
        return self.catalog.cache.drop_owner(self.owner)

    def open(self, pair: OpenPair, aux_layers: object = None) -> Optional[SessionScore]:
        """Score ``pair`` as opened (its learned λ) and its baseline; None when it names no data."""
        if self.evaluator is not None:
            self.release()                             # the previous model's own states
        self.data = eval_data(pair.model, pair.data_size, self.max_eval, cache=self.catalog.cache,
                              slider_budget=self.catalog.slider_budget)
        self.evaluator = self.learned_acc = self.baseline_acc = self.last = None
        self.learned_items = self.baseline_items = None
        self.baseline_name = pair.baseline_name
        self._generation += 1
        if self.data is None:
            return None
        t0 = time.perf_counter()
        own = ("session", self.owner, self._generation)
        key = (("zoo", pair.target, pair.aux, str(aux_layers)) if pair.shared else own) + (self.data.key,)
        self.evaluator = SharedEvaluator(pair.model, self.data.X, self.data.y, key, self.catalog.cache,
                                         owner=self.owner, shared=pair.shared)
        first = self.evaluator.evaluate()
        self.learned_acc = first["acc"]
        self.learned_items = item_results(self.evaluator.logits, self.data.y)
        if pair.baseline is not None:
            in_catalog = pair.baseline_name in self.catalog.entries()
            base_key = (("zoo", pair.baseline_name) if in_catalog else own + ("baseline",)) + (self.data.key,)
            logits = shared_logits(self.catalog.cache, base_key, pair.baseline, self.data.X,
                                   owner=None if in_catalog else self.owner)
            self.baseline_items = item_results(logits, self.data.y)
            self.baseline_acc = float(self.baseline_items[0].mean())
        self.last = self._make_score(first, t0)
        return self.last

    def require_data(self, name: Optional[str]) -> EvalData:
        if self.data is None:
            raise M2PTError(f"{name} names no dataset, so there is no validation set.")
        return self.data

    def score(self, name: Optional[str]) -> SessionScore:
        """Score the λ in force now (the caller holds the session's lock)."""
        if self.evaluator is None:
            raise M2PTError(f"{name} names no dataset, so there is no validation set to score on.")
        t0 = time.perf_counter()
        self.last = self._make_score(self.evaluator.evaluate(), t0)
        return self.last

    def _make_score(self, r: dict, t0: float) -> SessionScore:
        return make_score(r, item_results(self.evaluator.logits, self.data.y), self.learned_items,
                          self.baseline_items, self.data, len(self.evaluator.stages.blocks),
                          time.perf_counter() - t0, self.baseline_name)

    def close(self) -> None:
        self.release()
        self.evaluator = self.data = None
