"""IncrementalEvaluator: re-score a fixed evaluation set after λ changes, recomputing only the
blocks from the first changed layer on (a dashboard slider move), with the engine of rerun.py.

It keeps the hidden states entering every block for the λ last evaluated, so memory is
(L + 1) × N × T × D floats (demo size, 512 image samples: about 45 MB)."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..pathways import get_lambdas
from .data import as_tensors, chunks
from .evaluate import DEFAULT_BATCH_SIZE, Score
from .rerun import first_changed_block, rerun
from .stages import eval_mode, model_device, model_stages


class IncrementalEvaluator:
    """Usage: ``ev = IncrementalEvaluator(model, X, y)``; change λ (set_lambdas, a slider);
    ``ev.evaluate()`` → {"acc", "loss", "n", "recomputed_from"}. Call ``reset()`` after changing
    anything other than λ (weights, a new model)."""

    def __init__(self, model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        self.model = model
        self.X, self.y = as_tensors(X, y)
        self.batch_size = batch_size
        self.stages = model_stages(model)
        self.logits: Optional[torch.Tensor] = None     # (N, C) of the last evaluate()
        self.reset()

    def _chunks(self):
        return chunks(self.X, self.y, self.batch_size, model_device(self.model))

    def reset(self) -> dict[str, float]:
        """Recompute every cached hidden state from the embedding on."""
        self._states: list[list[torch.Tensor]] = []     # per chunk: states entering blocks 0..L
        with eval_mode(self.model), torch.inference_mode():
            for xb, _ in self._chunks():
                self._states.append([self.stages.embed(xb)] + [None] * self.stages.depth)   # (B, T, D)
        self._lams: dict[str, float] = {}
        return self._run(0)

    def evaluate(self) -> dict[str, float]:
        """Score with the λ in force now, recomputing blocks from the first changed layer on."""
        return self._run(first_changed_block(get_lambdas(self.model), self._lams, self.stages.depth))

    def _run(self, start: int) -> dict[str, float]:
        def keep(c: int, b: int, h: torch.Tensor) -> None:
            self._states[c][b] = h

        with eval_mode(self.model), torch.inference_mode():
            logits = rerun(self.stages, len(self._states), start, lambda c: self._states[c][start], keep)
        score = Score()
        for out, (_, yb) in zip(logits, self._chunks()):
            score.add(out, yb)
        self._lams = get_lambdas(self.model)
        self.logits = torch.cat(logits).cpu()
        return {**score.as_dict(), "recomputed_from": start}
