"""SharedEvaluator: re-score a session's λ on its evaluation set, with memory shared between sessions.

The incremental engine is analysis.rerun's, as for IncrementalEvaluator (same interface:
``evaluate()``, ``logits``, ``stages``); only the cache handed to it differs: the hidden states
live in the process-wide SharedCache:

    ("base", weights, data)        states entering every block with the learned λ, once for everyone
    ("own", session, weights, data)  one session's states from its first edited layer on (evictable)
    ("logits", weights, data, λ)   logits (N, C) of any λ setting already scored, by anyone

so a session holds no tensors of its own between calls, and an evicted entry only costs time.
"""
from __future__ import annotations

import time
from typing import Any, Hashable, Optional

import torch
from torch import nn

from ..analysis.evaluate import Score
from ..analysis.rerun import first_changed_block, rerun
from ..analysis.stages import eval_mode, model_stages
from ..pathways import get_lambdas, override_lambdas
from .cache import SharedCache

# Chunks of 128 items: as fast as 512 on CPU, and a quarter of the transient activations, which
# the allocator keeps after the first evaluation (per concurrent job).
CHUNK = 128
States = list[list[torch.Tensor]]     # per chunk: states entering blocks 0..depth, each (B, T, D)


class SharedEvaluator:
    """Evaluate ``model`` (λ as set now) on (X, y); ``weights_key`` names its weights and learned λ
    (equal keys must mean equal models), ``owner`` the session whose own entries these are."""

    def __init__(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, weights_key: Hashable,
                 cache: SharedCache, owner: Hashable, shared: bool = True, batch_size: int = CHUNK):
        self.model, self.X, self.y = model, X, y
        self.stages = model_stages(model)
        self.learned = get_lambdas(model)                 # the λ of the shared base states
        self.names = list(self.learned)
        self.key, self.cache, self.owner = (weights_key, len(y)), cache, owner
        self.base_owner = None if shared else owner        # weights only this session has: its entries
        self.batch_size = batch_size
        self.logits: Optional[torch.Tensor] = None         # (N, C) of the last evaluate()
        self.seconds = 0.0

    # -- helpers ------------------------------------------------------------------------------
    def _first_diff(self, a: dict[str, float], b: dict[str, float]) -> int:
        return first_changed_block(a, b, self.stages.depth)

    def _chunks(self) -> list[slice]:
        n = len(self.y)
        return [slice(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]

    def _score(self, logits: torch.Tensor, start: int) -> dict[str, Any]:
        self.logits = logits
        return {**Score().add(logits, self.y).as_dict(), "recomputed_from": start}

    def _base(self) -> States:
        """States entering every block with the learned λ (computed once, shared)."""
        key = ("base", self.key)
        states = self.cache.get(key)
        if states is None:
            slices = self._chunks()
            states = [[] for _ in slices]
            with override_lambdas(self.model, self.learned), eval_mode(self.model), torch.inference_mode():
                for c, sl in enumerate(slices):
                    states[c].append(self.stages.embed(self.X[sl]))            # (B, T, D)
                logits = rerun(self.stages, len(slices), 0, lambda c: states[c][0],
                               lambda c, b, h: states[c].append(h))
            states = self.cache.put(key, states, owner=self.base_owner)          # may raise ServerBusyError
            self.cache.put(("logits", self.key, self._vector(self.learned)), torch.cat(logits),
                           owner=self.base_owner, required=False)
        return states

    def _vector(self, lams: dict[str, float]) -> tuple[float, ...]:
        return tuple(lams[n] for n in self.names)

    # -- the interface ------------------------------------------------------------------------
    def evaluate(self) -> dict[str, Any]:
        """Score with the λ in force now; recomputes blocks from the first layer that differs from
        both the learned λ and this session's last evaluated λ."""
        t0 = time.perf_counter()
        lams = get_lambdas(self.model)
        depth = self.stages.depth
        memo_key = ("logits", self.key, self._vector(lams))
        memo = self.cache.get(memo_key)
        if memo is not None:
            self.seconds = time.perf_counter() - t0
            return self._score(memo, depth)
        base = self._base()
        own_key = ("own", self.owner, self.key)
        with self.cache.pinned([("base", self.key), own_key]):
            k = self._first_diff(lams, self.learned)                      # base valid up to block k
            own = self.cache.get(own_key)                                  # (λ, k_own, {b: [chunk]})
            start, owned = k, {}
            if own is not None:
                m = self._first_diff(lams, own[0])
                if m > k:                                                  # own states valid up to m
                    start, owned = m, {b: own[2][b] for b in range(k + 1, m + 1)}
            new = {b: [] for b in range(start + 1, depth + 1)}
            with eval_mode(self.model), torch.inference_mode():
                logits = rerun(self.stages, len(self._chunks()), start,
                               lambda c: owned[start][c] if start in owned else base[c][start],
                               lambda c, b, h: new[b].append(h))
        logits = torch.cat(logits)
        if k < depth:
            self.cache.put(own_key, (lams, k, {**owned, **new}), owner=self.owner, required=False)
        self.cache.put(memo_key, logits, owner=self.base_owner, required=False)
        self.seconds = time.perf_counter() - t0
        return self._score(logits, start)


def shared_logits(cache: SharedCache, key: Hashable, model: nn.Module, X: torch.Tensor,
                  owner: Optional[Hashable] = None) -> torch.Tensor:
    """predict_logits of a read-only model (a baseline) on X (N, ...) → (N, C), once per key."""
    from ..analysis import predict_logits
    got = cache.get(("logits", key))
    if got is None:
        got = cache.put(("logits", key), predict_logits(model, X, batch_size=CHUNK).float(), owner=owner, required=False)
    return got
