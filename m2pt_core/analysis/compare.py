"""Two models (or one model under two λ settings) on the same items, with paired uncertainty."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..scores import item_scores
from .data import as_tensors
from .evaluate import DEFAULT_BATCH_SIZE, predict_logits
from .intervals import LEVEL, N_BOOT, SEED, PairedComparison, paired_comparison


def per_item_results(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct (N,) bool, cross-entropy (N,) float) of every item, in eval and inference mode."""
    X, y = as_tensors(X, y)
    return item_scores(predict_logits(model, X, batch_size), y)          # logits (N, C)


def compare_models(model_a: nn.Module, model_b: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                   batch_size: int = DEFAULT_BATCH_SIZE, n_boot: int = N_BOOT, seed: int = SEED,
                   level: float = LEVEL) -> PairedComparison:
    """B against A on the same items. Says nothing about seed-to-seed training noise: for that,
    repeat training over seeds (experiment.summarize).

    Args:
        model_a, model_b: the reference and the model compared with it.
        X, y: inputs (N, ...) and labels (N,), or a dataset with ``.tensors()`` (leave y out).
        batch_size, n_boot, seed, level: batching, bootstrap resamples and seed, interval level.
    Returns:
        PairedComparison: Wilson interval of each accuracy, paired bootstrap interval of Δacc and
        Δloss (B − A), McNemar p, and whether Δacc is distinguishable from 0.
    """
    X, y = as_tensors(X, y)
    ca, la = per_item_results(model_a, X, y, batch_size)
    cb, lb = per_item_results(model_b, X, y, batch_size)
    return paired_comparison(ca, cb, la, lb, n_boot=n_boot, seed=seed, level=level)
