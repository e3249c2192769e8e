"""λ sweeps: accuracy and loss as λ of one pathway (or of a whole layer) takes each grid value,
for every layer; and a global scale of all λ.

Grids are either absolute λ values (mode="absolute"; needed for models still at λ = 0) or
multiples of the λ in force (mode="scale"; natural after training, since learned λ differ per
layer: 0 is a knockout, 1 the trained model). Every point runs only the blocks from the swept
layer on (cached hidden states, see probes.py) and λ are restored afterwards."""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Union

import pandas as pd
import torch
from torch import nn

from ..pathways import pathway_modules
from .evaluate import DEFAULT_BATCH_SIZE
from .intervals import LEVEL, N_BOOT, PAIRED_COLUMNS, paired_score_columns
from .probes import Probe, Progress, run_probes
from .selection import resolve_targets

MODES = ("absolute", "scale")
DEFAULT_GRIDS = {
    "absolute": (-0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2),
    "scale": (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0),
}
# PAIRED_COLUMNS: each point against the model as it is (base_*), same items (see intervals.py).
SWEEP_COLUMNS = ["layer", "component", "mode", "value", "lam_learned", "acc", "loss", "base_acc", "base_loss",
                 *PAIRED_COLUMNS]
SCALE_COLUMNS = ["scale", "acc", "loss", "base_acc", "base_loss", *PAIRED_COLUMNS]


def _grid(grid: Optional[Sequence[float]], mode: str) -> list[float]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    # Duplicates would be computed twice and collide as result keys: keep the first of each.
    values = list(dict.fromkeys(float(v) for v in (DEFAULT_GRIDS[mode] if grid is None else grid)))
    if not values:
        raise ValueError("The grid is empty.")
    return values


def lambda_sweep(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                 grid: Optional[Sequence[float]] = None, layers: Optional[Iterable[int]] = None,
                 components: Union[None, str, Iterable[str]] = None, mode: str = "absolute",
                 batch_size: int = DEFAULT_BATCH_SIZE, n_boot: int = N_BOOT, level: float = LEVEL,
                 progress: Optional[Progress] = None) -> pd.DataFrame:
    """One row per (layer, component, grid value).

    components: None or "all" sweeps each layer's pathways together; a component name (or a list,
    which may mix in "all") sweeps single pathways. mode="absolute": every swept λ is set to the
    value; mode="scale": every swept λ is multiplied by it. lam_learned is the λ in force before the
    sweep (the mean over the layer's pathways for "all"); base_* score the model as it is, and
    PAIRED_COLUMNS give each point's paired interval of Δacc / Δloss against it (bootstrap over the
    same items at ``level``, McNemar p). ``progress``: called with the fraction done (see run_probes)."""
    values = _grid(grid, mode)
    current = {n: m.lam_value for n, m in pathway_modules(model).items()}
    targets = resolve_targets(model, layers, components)
    probes = []
    for i, c, names in targets:
        for v in values:
            lam = {n: v if mode == "absolute" else current[n] * v for n in names}
            probes.append(Probe((i, c, v), lam))
    base, scores = run_probes(model, X, y, probes, batch_size, progress)
    learned = {(i, c): sum(current[n] for n in names) / len(names) for i, c, names in targets}
    rows = [{"layer": i, "component": c, "mode": mode, "value": v, "lam_learned": learned[(i, c)],
             "acc": s.acc, "loss": s.loss, "base_acc": base.acc, "base_loss": base.loss}
            for (i, c, v), s in scores.items()]
    paired = paired_score_columns(base, list(scores.values()), n_boot=n_boot, level=level)
    return pd.DataFrame(rows).assign(**paired).reindex(columns=SWEEP_COLUMNS)


def global_scale_sweep(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                       scales: Optional[Sequence[float]] = None,
                       batch_size: int = DEFAULT_BATCH_SIZE, n_boot: int = N_BOOT, level: float = LEVEL) -> pd.DataFrame:
    """One row per scale s: every λ multiplied by s at once (0 = no pathways, 1 = as trained),
    with PAIRED_COLUMNS against the model as it is."""
    values = _grid(scales, "scale")
    current = {n: m.lam_value for n, m in pathway_modules(model).items()}
    if not current:
        raise ValueError("The model has no pathways; attach them first (attach_pathways).")
    probes = [Probe(s, {n: lam * s for n, lam in current.items()}) for s in values]
    base, scores = run_probes(model, X, y, probes, batch_size)
    rows = [{"scale": s, "acc": r.acc, "loss": r.loss, "base_acc": base.acc, "base_loss": base.loss}
            for s, r in scores.items()]
    paired = paired_score_columns(base, list(scores.values()), n_boot=n_boot, level=level)
    return pd.DataFrame(rows).assign(**paired).reindex(columns=SCALE_COLUMNS)
