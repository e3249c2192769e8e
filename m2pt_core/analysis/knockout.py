"""Knockout map: the accuracy change when pathways are switched off (λ = 0), one at a time, one
whole layer at a time, and all at once. A negative Δ means the model relies on that pathway."""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd
import torch
from torch import nn

from ..pathways import pathway_modules
from .evaluate import DEFAULT_BATCH_SIZE
from .intervals import LEVEL, N_BOOT, PAIRED_COLUMNS, paired_score_columns
from .probes import Probe, Progress, run_probes
from .selection import ALL, ALL_LAYERS, pathway_grid

KNOCKOUT_COLUMNS = ["layer", "component", "acc", "delta_acc", "loss", "delta_loss", "base_acc", "base_loss",
                    *PAIRED_COLUMNS]


def knockout_map(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, n_boot: int = N_BOOT, level: float = LEVEL,
                 progress: Optional[Progress] = None) -> pd.DataFrame:
    """What each pathway contributes: the model scored with it knocked out (λ = 0).

    Args:
        model: a model with pathways attached.
        X, y: inputs (N, ...) and labels (N,), or a dataset with ``.tensors()`` (leave y out).
        batch_size, n_boot, level: batching, bootstrap resamples, interval level.
        progress: called with the fraction done (see run_probes).
    Returns:
        A DataFrame: one row per pathway (layer, component), per whole layer (component "all"), and
        one row for all pathways at once (layer -1, component "all"). acc is a fraction; delta_* =
        knocked out − base, paired against the model as it is on the same n items (PAIRED_COLUMNS):
        bootstrap interval of delta_acc / delta_loss at ``level``, McNemar p, and whether the Δacc
        interval excludes 0.

    Each knockout runs only the blocks from its layer on (cached hidden states, see probes.py);
    λ are restored afterwards."""
    grid = pathway_grid(model)
    probes = [Probe((i, c), {name: 0.0}) for (i, c), name in grid.items()]
    for i in sorted({i for i, _ in grid}):
        probes.append(Probe((i, ALL), {n: 0.0 for (j, _), n in grid.items() if j == i}))
    probes.append(Probe((ALL_LAYERS, ALL), {n: 0.0 for n in pathway_modules(model)}))
    base, scores = run_probes(model, X, y, probes, batch_size, progress)
    rows = [{"layer": i, "component": c, "acc": s.acc, "delta_acc": s.acc - base.acc, "loss": s.loss,
             "delta_loss": s.loss - base.loss, "base_acc": base.acc, "base_loss": base.loss}
            for (i, c), s in scores.items()]
    paired = paired_score_columns(base, list(scores.values()), n_boot=n_boot, level=level)
    return pd.DataFrame(rows).assign(**paired).reindex(columns=KNOCKOUT_COLUMNS)
