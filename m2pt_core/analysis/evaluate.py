"""Accuracy and loss of a model on a whole evaluation set, in large batches without autograd."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..scores import item_scores
from .data import as_tensors, chunks
from .stages import eval_mode, model_device

DEFAULT_BATCH_SIZE = 512


@dataclass
class Score:
    """Running totals over batches; ``acc`` is a fraction in [0, 1], ``loss`` the mean cross-entropy.

    keep_items: also keep every item's correct/loss (per_item()), for paired intervals against
    another setting on the same items without evaluating again."""
    correct: float = 0.0
    loss_sum: float = 0.0
    n: int = 0
    keep_items: bool = False
    item_correct: list = field(default_factory=list, repr=False)   # (B,) bool per batch
    item_loss: list = field(default_factory=list, repr=False)      # (B,) fp32 per batch

    def add(self, logits: torch.Tensor, y: torch.Tensor) -> "Score":
        # (B, C) logits, (B,) labels; per-item scores from m2pt_core.scores, summed in float64.
        right, loss = item_scores(logits, y)                                   # (B,) bool, (B,) fp32
        if self.keep_items:
            self.item_correct.append(right.cpu())
            self.item_loss.append(loss.cpu())
        self.correct += float(right.sum())
        self.loss_sum += float(loss.double().sum())
        self.n += int(y.numel())
        return self

    def per_item(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(correct (N,) bool, loss (N,) fp32) in item order; needs keep_items=True."""
        if not self.keep_items:
            raise ValueError("This Score did not keep per-item results (Score(keep_items=True)).")
        if not self.item_correct:
            return torch.zeros(0, dtype=torch.bool), torch.zeros(0)
        return torch.cat(self.item_correct), torch.cat(self.item_loss)

    @property
    def acc(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def loss(self) -> float:
        return self.loss_sum / self.n if self.n else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"acc": self.acc, "loss": self.loss, "n": self.n}


def predict_logits(model: nn.Module, X: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    """Logits (N, C) on the CPU for inputs (N, ...), in eval mode and inference mode."""
    X = torch.as_tensor(X.tensors()[0] if hasattr(X, "tensors") else X)
    device = model_device(model)
    out = []
    with eval_mode(model), torch.inference_mode():
        for i in range(0, len(X), batch_size):
            out.append(model(X[i:i + batch_size].to(device)).float().cpu())
    return torch.cat(out)


def evaluate_tensors(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, float]:
    """{"acc": fraction correct, "loss": mean cross-entropy, "n": samples} on (X, y) or on a
    dataset with ``.tensors()`` (then leave y out)."""
    X, y = as_tensors(X, y)
    score = Score()
    with eval_mode(model), torch.inference_mode():
        for xb, yb in chunks(X, y, batch_size, model_device(model)):
            score.add(model(xb), yb)
    return score.as_dict()
