"""Per-item scores: the one definition of "correct" and "loss" that every accuracy and loss in
this package is built from (training logs, evaluation, paired comparisons, experiment files and
the dashboard).

    logits (N, C), labels (N,) ──► correct (N,) bool = argmax(logits) == label
                                   loss    (N,) fp32 = cross-entropy of the fp32 logits

Totals are summed in float64 so that the batch size does not change a reported number.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def item_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the top-scoring class of each row of logits (N, C) is its label y (N,)."""
    return logits.argmax(dim=-1) == y


def item_scores(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct (N,) bool, cross-entropy (N,) fp32) of each item, from logits (N, C) and labels (N,).

    The logits are cast to fp32 first (bf16 / fp16 autocast output would round the loss)."""
    logits = logits.float()
    return item_correct(logits, y), F.cross_entropy(logits, y, reduction="none")


def score_totals(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(number correct, summed cross-entropy) of a batch, summed in float64: item_scores, totalled."""
    correct, loss = item_scores(logits, y)
    return float(correct.sum()), float(loss.double().sum())
