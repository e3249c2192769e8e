"""IncrementalEvaluator: re-score a fixed evaluation set after λ changes, recomputing only the
blocks from the first changed layer on (a dashboard slider move).

It keeps the hidden states entering every block for the λ last evaluated, so memory is
(L + 1) × N × T × D floats (demo size, 512 image samples: about 45 MB)."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..pathways import get_lambdas, split_name
from .data import as_tensors, chunks
from .evaluate import DEFAULT_BATCH_SIZE, Score
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

    def reset(self) -> dict[str, float]:
        """Recompute every cached hidden state from the embedding on."""
        self._states: list[list[torch.Tensor]] = []     # per chunk: states entering blocks 0..L
        with eval_mode(self.model), torch.inference_mode():
            for xb, _ in chunks(self.X, self.y, self.batch_size, model_device(self.model)):
                self._states.append([self.stages.embed(xb)] + [None] * self.stages.depth)   # (B, T, D)
        self._lams: dict[str, float] = {}
        return self._run(0)

    def _changed_from(self) -> int:
        """First block whose λ differs from the last evaluation (depth if none)."""
        now = get_lambdas(self.model)
        changed = [split_name(n)[0] for n, v in now.items() if self._lams.get(n) != v]
        return min(changed, default=self.stages.depth)

    def evaluate(self) -> dict[str, float]:
        """Score with the λ in force now, recomputing blocks from the first changed layer on."""
        return self._run(self._changed_from())

    def _run(self, start: int) -> dict[str, float]:
        score, logits = Score(), []
        blocks = self.stages.blocks
        with eval_mode(self.model), torch.inference_mode():
            for states, (_, yb) in zip(self._states, chunks(self.X, self.y, self.batch_size, model_device(self.model))):
                for k in range(start, len(blocks)):
                    states[k + 1] = self.stages.step(states[k], k)        # (B, T, D); last maybe (B, 1, D)
                out = self.stages.finish(states[-1])                      # (B, C)
                score.add(out, yb)
                logits.append(out.float().cpu())
        self._lams = get_lambdas(self.model)
        self.logits = torch.cat(logits)
        return {**score.as_dict(), "recomputed_from": start}
