"""The calibrated ablation at a glance: positive control, cross-modal auxiliary and random control
side by side, one column each, on ONE colour scale, so a user sees what a real effect looks like
and where the cross-modal pathway falls between the two controls.

Input: ``arm_deltas`` of an ablation run with ``--control random positive`` (``kind`` is "m2pt",
"random" or "positive"; the whole-model control arms are "random" / "positive", the per-subset
ones "random:layer=2" / "positive:layer=2")."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._style import DELTA_ACC_RANGE, DIVERGING, NOT_DISTINGUISHABLE, empty, finish, require, wrap_title

ALL = "all"
# column order: the known-good reference first, the measured condition in the middle, the null last
CONDITIONS = (("positive", "positive<br>control"), ("m2pt", "cross-modal"), ("random", "random<br>control"))


def _row_label(r: pd.Series) -> Optional[str]:
    """'all' for whole-model arms, the block index for layer arms, None for anything else."""
    if r["by"] in ("all", "control"):
        return ALL
    if r["by"] == "layer" and pd.notna(r["layer"]):
        return str(int(r["layer"]))
    return None


def has_controls(deltas: pd.DataFrame) -> bool:
    return "kind" in deltas and deltas["kind"].isin(["random", "positive"]).any()


def control_heatmap(deltas: pd.DataFrame, aux_label: str = "cross-modal auxiliary",
                    title: str = "Calibrated: positive control, cross-modal, random control") -> go.Figure:
    """Rows: blocks with a pathway (layer arms) and "all"; columns: the conditions that were run.
    Cell text: mean paired Δ test accuracy (points); grey cells: the 95% t-interval over seeds
    contains 0, and then the text gives the minimum detectable effect ("< 4.1": no effect larger
    than 4.1 points). Hover: interval, seeds, MDE."""
    require(deltas, ["arm", "by", "layer", "kind", "delta_acc_mean", "delta_acc_lo", "delta_acc_hi"],
            "control_heatmap")
    if not has_controls(deltas):
        return empty(title, "this ablation has no control arms (m2pt ablate --control random positive)")
    conds = [(k, name) for k, name in CONDITIONS if (deltas["kind"] == k).any()]
    cols = [f"{name}<br>({aux_label})" if k == "m2pt" else name for k, name in conds]
    labels = [lab for lab in (_row_label(r) for _, r in deltas.iterrows()) if lab is not None]
    rows = sorted({lab for lab in labels if lab != ALL}, key=int) + ([ALL] if ALL in labels else [])
    shape = (len(rows), len(cols))
    z, lo, hi, mde, seeds = (np.full(shape, np.nan) for _ in range(5))
    for _, r in deltas.iterrows():
        lab = _row_label(r)
        kinds = [k for k, _ in conds]
        if lab is None or r["kind"] not in kinds:
            continue
        i, j = rows.index(lab), kinds.index(r["kind"])
        z[i, j], lo[i, j], hi[i, j] = (100.0 * float(r[f"delta_acc_{s}"]) for s in ("mean", "lo", "hi"))
        mde[i, j] = 100.0 * float(r.get("delta_acc_mde", np.nan))
        seeds[i, j] = float(r.get("n_seeds", np.nan))
    distinct = np.isfinite(lo) & np.isfinite(hi) & ((lo > 0) | (hi < 0))
    known = np.isfinite(z)
    text = np.full(shape, "", dtype=object)
    text[distinct] = [f"{v:+.1f}" for v in z[distinct]]
    grey = known & ~distinct
    text[grey] = [f"{v:+.1f}<br>(< {m:.1f})" if np.isfinite(m) else f"{v:+.1f}" for v, m in zip(z[grey], mde[grey])]
    zmax = DELTA_ACC_RANGE     # one scale for all three columns, the same as every Δ map (beyond: saturates)
    custom = np.stack([z, lo, hi, mde, seeds], axis=-1)
    hover = ("block %{y}, %{x}<br>Δ test acc = %{customdata[0]:+.2f} pts [%{customdata[1]:+.2f}, "
             "%{customdata[2]:+.2f}] over %{customdata[4]} seeds<br>minimum detectable effect "
             "%{customdata[3]:.1f} pts<extra>%{fullData.name}</extra>")
    fig = go.Figure(go.Heatmap(z=np.where(distinct, z, np.nan), x=cols, y=rows, name="distinguishable from 0",
                               colorscale=DIVERGING, zmid=0, zmin=-zmax, zmax=zmax, text=np.where(distinct, text, ""),
                               texttemplate="%{text}", customdata=custom, hovertemplate=hover,
                               colorbar=dict(title=dict(text="Δ acc (pp)"))))
    if grey.any():
        fig.add_trace(go.Heatmap(z=np.where(grey, 0.0, np.nan), x=cols, y=rows, name="not distinguishable from 0",
                                 showscale=False, colorscale=[[0, NOT_DISTINGUISHABLE], [1, NOT_DISTINGUISHABLE]],
                                 zmin=-1, zmax=1, text=np.where(grey, text, ""), texttemplate="%{text}",
                                 customdata=custom, hovertemplate=hover))
    n = int(deltas["test_n"].dropna().iloc[0]) if "test_n" in deltas and deltas["test_n"].notna().any() else None
    seeds_txt = "/".join(str(int(s)) for s in sorted(set(seeds[known].tolist()))) or "?"
    note = wrap_title(f"mean paired Δ vs the same seed's baseline over {seeds_txt} seeds"
                      + (f", test split, n = {n:,} items per run" if n else "")
                      + ". Coloured: 95% t-interval excludes 0; grey: it does not, and (< X) = no effect larger "
                        "than X points", 60)
    fig.update_xaxes(type="category", side="top", tickangle=0)
    fig.update_yaxes(type="category", autorange="reversed")
    fig = finish(fig, f"{wrap_title(title, 44)}<br><sup>{note}</sup>", None, "block with a pathway",
                 height=max(440, 250 + 48 * len(rows)))
    fig.update_layout(margin=dict(t=250))
    return fig
