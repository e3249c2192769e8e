"""Seed statistics of an experiment table: mean ± std per arm, and the paired change against the
baseline of the same seed with its t-interval over seeds and the design's minimum detectable effect."""
from __future__ import annotations

import pandas as pd

from ..analysis.intervals import seed_interval
from ..analysis.paired_seeds import baseline_by_seed


def summarize(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean ± std over seeds per (arm, aux) and train fraction, plus the paired test-accuracy change
    against the baseline of the same seed and fraction (when the table has a baseline arm), with its
    t-interval over seeds (delta_vs_baseline_lo / _hi at ``level``), whether that interval excludes 0,
    and the minimum detectable effect of the design (delta_vs_baseline_mde: α 0.05, power 0.8)."""
    if "train_fraction" in table.columns and table.train_fraction.nunique() > 1:
        parts = [_summarize_one(t, level).assign(train_fraction=f) for f, t in table.groupby("train_fraction")]
        return pd.concat(parts, ignore_index=True)
    return _summarize_one(table, level)


def _summarize_one(table: pd.DataFrame, level: float) -> pd.DataFrame:
    from ..analysis.power import seed_mde
    metrics = ["test_acc", "val_acc", "test_loss", "lam_abs_mean", "train_time_s"]
    t = table.copy()
    base = baseline_by_seed(t)["test_acc"]
    if len(base):
        t["delta_vs_baseline"] = t.test_acc - t.seed.map(base)
        metrics.append("delta_vs_baseline")
    g = t.groupby(["arm", "aux"], sort=False)
    out = g[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out.insert(0, "n_seeds", g.size())
    out["test_acc"] = [f"{m:.4f} ± {0.0 if pd.isna(s) else s:.4f}"
                       for m, s in zip(out.test_acc_mean, out.test_acc_std)]
    if len(base):
        # Paired Δ over seeds: mean ± t-interval (n − 1 dof; unbounded with one seed).
        iv = [seed_interval(d.dropna().tolist(), level=level).interval if d.notna().any() else None
              for _, d in g["delta_vs_baseline"]]
        out["delta_vs_baseline_lo"] = [i.lo if i else float("nan") for i in iv]
        out["delta_vs_baseline_hi"] = [i.hi if i else float("nan") for i in iv]
        out["delta_distinguishable"] = [bool(i and i.distinguishable) for i in iv]
        out["delta_vs_baseline_mde"] = [seed_mde(sd, n) for sd, n in zip(out.delta_vs_baseline_std, out.n_seeds)]
    return out.reset_index()
