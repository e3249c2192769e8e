"""The fast, approximate view: each pathway's first-order effect from one backward pass.

Attach the auxiliary to a trained baseline with every λ = 0 (the model is unchanged) and take
g = ∂L/∂λ per pathway, L = mean cross-entropy over the training set (eval mode: no dropout).
We report, per pathway and summed over an arm's pathways:

    gain_pos = −g       first-order decrease of L for a small POSITIVE λ step (nats per unit λ):
                        L(λ=ε) ≈ L(0) − ε·gain_pos
    gain     = |g|      first-order decrease of L per unit |λ| step when λ moves downhill, which is
                        what training does first (λ is learned and may go negative; at λ = 0 the
                        gradient of W' is λ·(…) = 0, so λ is the only pathway parameter that moves
                        on the first step). An arm's gain is Σ|g| over its pathways: the decrease
                        when every λ of the arm takes one step ε downhill is ≈ ε·Σ|g|.

At λ = 0 one pathway's gradient does not depend on which other pathways are attached, so the cells
of one pass give every layer / component / prefix / suffix subset; another block order (or random
W') is another pass. It predicts the start of training, not where training ends: compare ranks with
the trained ablation (``rank_agreement``), never values.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.data import as_tensors, chunks
from ..analysis.stages import eval_mode, model_device
from ..pathways import PathwayLinear, attach_pathways
from ..pathways.random_aux import random_aux_like

CELL_COLUMNS = ["name", "layer", "component", "aux_layer", "dL_dlam", "gain_pos", "gain", "n"]
ESTIMATE_COLUMNS = ["arm", "seed", "pathways", "gain", "gain_pos", "gain_per_pathway", "n"]
RHO_RESAMPLES = 2000


def lambda_gradients(model: nn.Module, data: Any, y: Optional[torch.Tensor] = None, batch_size: int = 256,
                     max_items: Optional[int] = None) -> dict[str, float]:
    """∂L/∂λ of every PathwayLinear at its current λ; L = mean cross-entropy over ``data`` (a dataset
    with ``.tensors()`` or inputs with labels ``y``), in eval mode. Leaves the model as it was."""
    X, y = as_tensors(data, y)
    if max_items is not None:
        X, y = X[:max_items], y[:max_items]
    lams = {n: m.lam for n, m in model.named_modules() if isinstance(m, PathwayLinear)}
    if not lams:
        raise ValueError("The model has no pathways: attach some (λ = 0) before asking for ∂L/∂λ.")
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    for lam in lams.values():
        lam.requires_grad_(True)
    try:
        with eval_mode(model):
            for xb, yb in chunks(X, y, batch_size, model_device(model)):
                loss = F.cross_entropy(model(xb).float(), yb, reduction="sum") / len(y)
                loss.backward()
        return {n: float(lam.grad) if lam.grad is not None else 0.0 for n, lam in lams.items()}
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
            p.grad = None


def pathway_gradients(baseline: nn.Module, aux: Any, data: Any, aux_layers: Optional[list[int]] = None,
                      batch_size: int = 256, max_items: Optional[int] = None) -> pd.DataFrame:
    """One row per (layer, component) pathway of ``aux`` attached at λ = 0 to a copy of ``baseline``
    (``aux_layers``: the auxiliary block paired with each target block): CELL_COLUMNS."""
    model = copy.deepcopy(baseline)
    report = attach_pathways(model, aux, lambda_init=0.0, aux_trainable=False, aux_layers=aux_layers)
    pairs = {int(k): v for k, v in model.pathway_info["aux_layers"].items()}
    grads = lambda_gradients(model, data, batch_size=batch_size, max_items=max_items)
    n = len(data) if max_items is None else min(len(data), max_items)
    rows = []
    for name in report.names:
        _, i, comp = name.split(".", 2)
        g = grads[name]
        rows.append({"name": name, "layer": int(i), "component": comp, "aux_layer": pairs[int(i)],
                     "dL_dlam": g, "gain_pos": -g, "gain": abs(g), "n": n})
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def arm_estimates(baseline: nn.Module, aux_weights: Any, arms: list, depth: int, data: Any, seed: int = 0,
                  batch_size: int = 256, max_items: Optional[int] = None,
                  positive_weights: Any = None) -> pd.DataFrame:
    """ESTIMATE_COLUMNS per non-baseline arm: Σ over the arm's pathways of gain and gain_pos, from
    one pass per distinct (auxiliary weights, block order)."""
    passes: dict[tuple, pd.DataFrame] = {}
    rows = []
    for arm in arms:
        if arm.kind == "baseline":
            continue
        order = tuple(arm.aux_layers) if arm.aux_layers is not None else tuple(range(depth))
        key = (arm.kind, order)
        if key not in passes:
            source = {"random": lambda: random_aux_like(aux_weights, seed),
                      "positive": lambda: positive_weights}.get(arm.kind, lambda: aux_weights)()
            passes[key] = pathway_gradients(baseline, source, data, list(order), batch_size, max_items).set_index("name")
        cells = passes[key].loc[[n for n, _ in arm.pairs(depth)]]
        rows.append({"arm": arm.name, "seed": seed, "pathways": len(cells), "gain": float(cells.gain.sum()),
                     "gain_pos": float(cells.gain_pos.sum()), "gain_per_pathway": float(cells.gain.mean()),
                     "n": int(cells.n.iloc[0])})
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


def estimate_for_plan(plan: Any, table: pd.DataFrame, max_items: Optional[int] = None) -> pd.DataFrame:
    """arm_estimates on each seed's trained baseline run of an ablation (its training split)."""
    from ..checkpoint import load_checkpoint
    out = []
    for r in table[table.arm == "baseline"].itertuples():
        path = Path(r.run_dir) / "model.safetensors"
        if not path.is_file():
            continue
        baseline = load_checkpoint(path, device="cpu")
        out.append(arm_estimates(baseline, plan.aux_weights, plan.arms, plan.depth, plan.splits["train"],
                                 seed=int(r.seed), max_items=max_items,
                                 positive_weights=plan.positive[int(r.seed)].weights if plan.positive is not None else None))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=ESTIMATE_COLUMNS)


def per_pathway_gain(estimate: pd.DataFrame) -> pd.Series:
    """Mean over seeds of each arm's gain PER PATHWAY (Σ|g| / pathways): the sum grows with the
    number of pathways an arm has (24 for "all", 4 for one layer), which is not an effect size."""
    e = estimate
    if "gain_per_pathway" not in e or e["gain_per_pathway"].isna().any():
        e = e.assign(gain_per_pathway=e["gain"] / e["pathways"]) if "pathways" in e else e.assign(
            gain_per_pathway=e["gain"])
    return e.groupby("arm", sort=False)["gain_per_pathway"].mean()


def _average_ranks(m: np.ndarray) -> np.ndarray:
    """Ranks (1-based, ties share their average rank) of each row of ``m`` (R, n)."""
    less = (m[:, None, :] < m[:, :, None]).sum(axis=2)             # (R, n): items below each item
    equal = (m[:, None, :] == m[:, :, None]).sum(axis=2)           # (R, n): itself and its ties
    return less + (equal + 1) / 2.0


def _spearman_interval(x: np.ndarray, y: np.ndarray, level: float = 0.95,
                       resamples: int = RHO_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman ρ, resampling arms with replacement (resamples
    with a constant side are skipped: ρ is undefined there). Vectorised: the Ablation tab draws it."""
    idx = np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))     # (R, n)
    a, b = _average_ranks(np.asarray(x, float)[idx]), _average_ranks(np.asarray(y, float)[idx])
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    ok = den > 0
    if ok.sum() < resamples // 2:
        return float("nan"), float("nan")
    rhos = np.round((a * b).sum(axis=1)[ok] / den[ok], 12)           # float noise would put ρ = 1 outside
    return (float(np.quantile(rhos, (1 - level) / 2)), float(np.quantile(rhos, (1 + level) / 2)))


def rank_agreement(deltas: pd.DataFrame, estimate: pd.DataFrame) -> dict[str, Any]:
    """Spearman rank correlation, over the arms both tables have, between the estimate's gain per
    pathway (mean over seeds; taken on the trained baseline at λ = 0, see the module docstring)
    and the trained mean Δ: Δ test accuracy and −Δ test loss (both "higher = helps"), each with a
    95% bootstrap interval over arms. Ties (equal Δ counts) share a rank."""
    est = per_pathway_gain(estimate)
    d = deltas.set_index("arm")
    common = [a for a in d.index if a in est.index]
    out: dict[str, Any] = {"n_arms": len(common), "estimate_at": "trained baseline, λ = 0, gain per pathway"}
    for key, target in (("acc", d["delta_acc_mean"]), ("loss", -d["delta_loss_mean"])):
        if len(common) < 3:
            out.update({f"spearman_{key}": float("nan"), f"spearman_{key}_lo": float("nan"),
                        f"spearman_{key}_hi": float("nan")})
            continue
        x, y = est.loc[common].to_numpy(float), target.loc[common].to_numpy(float)
        lo, hi = _spearman_interval(x, y)
        out.update({f"spearman_{key}": round(float(pd.Series(x).corr(pd.Series(y), method="spearman")), 12),
                    f"spearman_{key}_lo": lo, f"spearman_{key}_hi": hi})
    return out
