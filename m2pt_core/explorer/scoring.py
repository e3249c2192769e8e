"""Scores a session shows, with their uncertainty: the λ in force against the learned λ and
against the baseline model on the same items (paired), and the test split on request."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..analysis import predict_logits
from ..scores import item_scores
from ..analysis.intervals import accuracy_interval, paired_comparison
from .data import EvalData, eval_data
from .results import SessionScore

Items = tuple[np.ndarray, np.ndarray]     # per-item (correct (N,) float, loss (N,) float)


def item_results(logits: torch.Tensor, y: torch.Tensor) -> Items:
    """Per-item correct (0/1) and cross-entropy from logits (N, C) and labels (N,)."""
    correct, loss = item_scores(logits, y)
    return correct.double().numpy(), loss.double().numpy()


def model_items(model: nn.Module, data: EvalData) -> Items:
    return item_results(predict_logits(model, data.X), data.y)


def make_score(result: dict, items: Items, learned: Optional[Items], baseline: Optional[Items],
               data: EvalData, depth: int, seconds: float, baseline_name: Optional[str]) -> SessionScore:
    """A SessionScore from an IncrementalEvaluator result and per-item results, with paired intervals."""
    def vs(ref: Optional[Items]):
        return None if ref is None else paired_comparison(ref[0], items[0], ref[1], items[1])

    return SessionScore(result["acc"], None if learned is None else float(learned[0].mean()),
                 None if baseline is None else float(baseline[0].mean()), result["n"],
                 result.get("recomputed_from", 0), depth, seconds, data.describe(),
                 accuracy_interval(items[0]), vs(learned), vs(baseline), baseline_name)


def test_split_report(model: nn.Module, baseline: Optional[nn.Module], baseline_name: Optional[str],
                      data_size: Optional[int], progress: Any = None) -> str:
    """Markdown: the model (λ as set now) on the whole TEST split, and against the baseline there.
    Only on request: choosing λ by looking at test scores would make them validation scores.
    Streamed with progress (split_score.split_report)."""
    from .split_score import split_report
    return split_report(model, baseline, baseline_name, data_size, "test", progress=progress)


def evidence_markdown(dataset: Optional[str], aux: Optional[str]) -> str:
    """Seed-level evidence for a (target dataset, auxiliary) pair from assets/evidence.json, or a
    line saying that every comparison shown is one run."""
    from ..evidence import evidence_for
    found = evidence_for(dataset, aux)
    if not found:
        return ("No multi-seed evidence for this pair: every comparison shown here is **one run** (one seed), "
                "and seed-to-seed differences at this scale reach several points.")
    lines = [f"**Seed-level evidence for {dataset} + {aux}** (training repeated over seeds, paired by seed):"]
    lines += [f"- {e.describe()}" for e in found]
    lines.append("The accuracies of the open models are one run each.")
    return "\n".join(lines)
