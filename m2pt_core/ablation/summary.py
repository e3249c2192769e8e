"""Paired Δ of each ablation arm against the baseline of the same seed, with its intervals.

    arm_deltas   per arm: mean Δ test accuracy / loss over seeds with the seed-level t-interval
                 (analysis.intervals.seed_interval): what another seed would likely give
    run_deltas   per (arm, seed): paired bootstrap interval and McNemar p on the test items
                 (analysis.intervals.paired_comparison): is this one run's difference item noise?
Accuracies are fractions (Δ 0.01 = 1 point); losses in nats.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ..analysis.intervals import LEVEL, paired_comparison, seed_interval
from ..analysis.paired_seeds import baseline_by_seed
from ..analysis.power import seed_mde

DELTA_COLUMNS = ["arm", "by", "subset", "layer", "component", "k", "kind", "n_seeds", "test_n",
                 "delta_acc_mean", "delta_acc_lo", "delta_acc_hi", "delta_acc_std", "distinguishable",
                 "delta_loss_mean", "delta_loss_lo", "delta_loss_hi", "lam_abs_mean", "delta_acc_mde"]
RUN_DELTA_COLUMNS = ["arm", "seed", "test_n", "delta_acc", "delta_acc_lo", "delta_acc_hi", "delta_loss",
                     "delta_loss_lo", "delta_loss_hi", "only_baseline", "only_arm", "p_mcnemar", "distinguishable"]


def _with_deltas(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    base = baseline_by_seed(t)
    # Δ from integer counts of correct test items: two arms that differ from their baselines by the
    # same number of items get exactly equal Δ (float differences of accuracies do not, which hides ties).
    n = t.test_n.astype(float)
    correct = (t.test_acc * n).round()
    t["delta_acc"] = (correct - (t.seed.map(base.test_acc) * n).round()) / n
    t["delta_loss"] = t.test_loss - t.seed.map(base.test_loss)
    return t


def arm_deltas(table: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per non-baseline arm (in table order): mean paired Δ over the seeds that have a
    baseline, its t-interval at ``level`` (unbounded with one seed), whether it excludes 0, and the
    minimum detectable effect of the design (``delta_acc_mde``, analysis/power.py; NaN with one seed)."""
    if not (table.arm == "baseline").any():
        raise ValueError("The ablation table has no baseline arm: no paired Δ to compute.")
    t = _with_deltas(table)
    rows = []
    for arm, g in t[t.arm != "baseline"].groupby("arm", sort=False):
        g = g.dropna(subset=["delta_acc"])
        if g.empty:
            continue
        acc, loss = seed_interval(g.delta_acc.tolist(), level=level), seed_interval(g.delta_loss.tolist(), level=level)
        first = g.iloc[0]
        rows.append({**{c: first.get(c) for c in ("arm", "by", "subset", "layer", "component", "k", "kind")},
                     "n_seeds": acc.n, "test_n": int(first.test_n),
                     "delta_acc_mean": acc.mean, "delta_acc_lo": acc.interval.lo, "delta_acc_hi": acc.interval.hi,
                     "delta_acc_std": acc.std, "distinguishable": bool(acc.n > 1 and acc.distinguishable),
                     "delta_loss_mean": loss.mean, "delta_loss_lo": loss.interval.lo,
                     "delta_loss_hi": loss.interval.hi, "lam_abs_mean": float(g.lam_abs_mean.mean()),
                     # the smallest mean Δ this many seeds with this spread detect (α 0.05, power 0.8)
                     "delta_acc_mde": seed_mde(acc.std, acc.n)})
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def _items(path) -> Optional[dict]:
    if path is None or (isinstance(path, float) and np.isnan(path)) or not Path(str(path)).is_file():
        return None
    return json.loads(Path(str(path)).read_text())


def run_deltas(table: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per (non-baseline arm, seed) whose run and baseline both kept per-item test results:
    paired bootstrap interval of Δacc and Δloss on the test items and the exact McNemar p."""
    base = {int(seed): _items(path) for seed, path in baseline_by_seed(table).test_items.items()}
    rows = []
    for r in table[table.arm != "baseline"].itertuples():
        a, b = base.get(int(r.seed)), _items(r.test_items)
        if a is None or b is None:
            continue
        c = paired_comparison(a["correct"], b["correct"], a["loss"], b["loss"], level=level)
        rows.append({"arm": r.arm, "seed": int(r.seed), "test_n": c.n, "delta_acc": c.delta_acc.estimate,
                     "delta_acc_lo": c.delta_acc.lo, "delta_acc_hi": c.delta_acc.hi,
                     "delta_loss": c.delta_loss.estimate, "delta_loss_lo": c.delta_loss.lo,
                     "delta_loss_hi": c.delta_loss.hi, "only_baseline": c.only_a, "only_arm": c.only_b,
                     "p_mcnemar": c.p_mcnemar, "distinguishable": c.distinguishable})
    return pd.DataFrame(rows, columns=RUN_DELTA_COLUMNS)


def transfer_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """For every subset arm that was run as auxiliary, random and positive control ("all" with
    "random" and "positive", "layer=2" with "random:layer=2" and "positive:layer=2"): the transfer
    ratio (Δcross − Δrandom) / (Δpositive − Δrandom) over the seeds all three share, with its
    bootstrap interval (analysis/power.py). Empty when the table has no controls."""
    from ..analysis.power import transfer_ratio
    t = _with_deltas(table)
    per_seed = t.pivot_table(index="seed", columns="arm", values="delta_acc", aggfunc="first")
    rows = []
    for arm in t[t.kind == "m2pt"].arm.unique() if "kind" in t.columns else []:
        rnd, pos = ("random", "positive") if arm == "all" else (f"random:{arm}", f"positive:{arm}")
        if rnd not in per_seed or pos not in per_seed:
            continue
        seeds = per_seed[[arm, rnd, pos]].dropna()
        r = transfer_ratio(seeds[arm], seeds[rnd], seeds[pos])
        rows.append({"arm": arm, "n_seeds": r.n_seeds, "delta_cross": seeds[arm].mean(),
                     "delta_random": seeds[rnd].mean(), "delta_positive": seeds[pos].mean(),
                     "ratio": r.estimate, "ratio_lo": r.lo, "ratio_hi": r.hi, "note": r.describe()})
    return pd.DataFrame(rows, columns=["arm", "n_seeds", "delta_cross", "delta_random", "delta_positive",
                                       "ratio", "ratio_lo", "ratio_hi", "note"])
