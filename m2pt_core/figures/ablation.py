"""Ablation figures: which pathway subsets helped when trained with them (paired Δ vs baseline).

Input: the tables of m2pt_core.ablation (``arm_deltas``: one row per arm with the mean paired Δ
over seeds and its t-interval; ``arm_estimates``: the first-order estimate per arm and seed)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..ablation.estimate import per_pathway_gain
from ._style import (DELTA_ACC, DELTA_ACC_RANGE, DELTA_LOSS_RANGE, DIVERGING, NOT_DISTINGUISHABLE, color,
                     component_order, empty, finish, require)

ALL = "all"


def _metric(metric: str) -> tuple[str, float, str, float]:
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}.")
    return (f"delta_{metric}", 100.0 if metric == "acc" else 1.0,
            DELTA_ACC if metric == "acc" else "Δ test loss (nats)", DELTA_ACC_RANGE if metric == "acc" else DELTA_LOSS_RANGE)


def _note(deltas: pd.DataFrame, extra: Optional[str] = None) -> str:
    seeds = sorted(set(int(s) for s in deltas["n_seeds"].dropna())) if "n_seeds" in deltas else []
    n = deltas["test_n"].dropna().iloc[0] if "test_n" in deltas and deltas["test_n"].notna().any() else None
    parts = [f"paired vs the same seed's baseline; mean over {'/'.join(map(str, seeds)) or '?'} seeds, "
             f"95% t-interval over seeds<br>"]
    if n is not None:
        parts.append(f"test split, n = {int(n):,} items per run")
    if extra:
        parts.append(extra)
    return "; ".join(parts).replace("<br>; ", "<br>")


def _grey(row: pd.Series, col: str) -> bool:
    lo, hi = row.get(f"{col}_lo"), row.get(f"{col}_hi")
    return not (lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def ablation_heatmap(deltas: pd.DataFrame, metric: str = "acc", depth: Optional[int] = None,
                     title: str = "Trained ablation: Δ when only these pathways are trained") -> go.Figure:
    """Layer (rows) × component (columns) grid of mean paired Δ: a cell from a layer-component arm,
    the "all" column from layer arms, the "all" row from component arms, the corner from the
    all-pathways arm. Diverging colours on a fixed symmetric range; cells whose t-interval over
    seeds contains 0 are grey (the number stays, with its interval on hover)."""
    col, scale, unit, zmax = _metric(metric)
    require(deltas, ["arm", "layer", "component", f"{col}_mean", f"{col}_lo", f"{col}_hi"], "ablation_heatmap")
    grid_arms = deltas[deltas["by"].isin(["layer", "component", "layer-component", "all"])] if "by" in deltas else deltas
    if "kind" in grid_arms:     # control arms ("random:layer=2") share layer/component with the arm they control
        grid_arms = grid_arms[grid_arms["kind"].isna() | (grid_arms["kind"] == "m2pt")]
    if grid_arms.empty or not (grid_arms["layer"].notna().any() or grid_arms["component"].notna().any()):
        return empty(title, "no layer / component arms in this ablation (see the other figures)")
    layers = sorted(int(v) for v in grid_arms["layer"].dropna().unique())
    if depth is not None:
        layers = sorted(set(layers) | set(range(depth)))
    comps = component_order(c for c in grid_arms["component"].dropna().unique())
    rows, cols = [str(i) for i in layers] + [ALL], comps + [ALL]
    z = np.full((len(rows), len(cols)), np.nan)
    lo, hi = z.copy(), z.copy()
    grey = np.zeros_like(z, dtype=bool)
    for _, r in grid_arms.iterrows():
        ri = rows.index(str(int(r["layer"]))) if pd.notna(r["layer"]) else len(rows) - 1
        ci = cols.index(r["component"]) if isinstance(r["component"], str) else len(cols) - 1
        z[ri, ci], lo[ri, ci], hi[ri, ci] = (float(r[f"{col}_{s}"]) * scale for s in ("mean", "lo", "hi"))
        grey[ri, ci] = _grey(r, col)
    fmt = "{:+.1f}" if metric == "acc" else "{:+.3f}"
    text = np.vectorize(lambda v: "" if np.isnan(v) else fmt.format(v))(z)
    custom = np.stack([z, lo, hi], axis=-1)
    hover = ("block %{y}, %{x}<br>" + unit + " = %{customdata[0]:.3g} [%{customdata[1]:.3g}, %{customdata[2]:.3g}]"
             "<extra>%{fullData.name}</extra>")
    fig = go.Figure()
    fig.add_trace(go.Heatmap(z=np.where(grey, np.nan, z), x=cols, y=rows, name="distinguishable from 0",
                             colorscale=DIVERGING, zmid=0, zmin=-zmax, zmax=zmax, text=np.where(grey, "", text),
                             texttemplate="%{text}", customdata=custom, hovertemplate=hover,
                             colorbar=dict(title=dict(text="Δ acc (pp)" if metric == "acc" else "Δ loss"))))
    known = grey & ~np.isnan(z)
    if known.any():
        fig.add_trace(go.Heatmap(z=np.where(known, 0.0, np.nan), x=cols, y=rows, name="not distinguishable from 0",
                                 showscale=False, colorscale=[[0, NOT_DISTINGUISHABLE], [1, NOT_DISTINGUISHABLE]],
                                 zmin=-1, zmax=1, text=np.where(known, text, ""), texttemplate="%{text}",
                                 customdata=custom, hovertemplate=hover))
    note = _note(deltas, "grey: interval contains 0" if known.any() else None)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    fig = finish(fig, f"{title}<br><sup>{note}</sup>", "component with a pathway", "block with a pathway",
                 height=max(360, 150 + 45 * len(rows)))
    fig.update_layout(margin=dict(t=130))
    return fig


def ablation_curves(deltas: pd.DataFrame, metric: str = "acc", depth: Optional[int] = None,
                    title: str = "Trained ablation: depth and block order") -> go.Figure:
    """Left: mean Δ vs the number k of blocks with pathways, for the first k (prefix) and the last
    k (suffix) blocks (k = depth is the all-pathways arm, k = 0 the baseline), with t-interval error
    bars. Right: every other arm (all, order=reversed, order=shuffled, controls) as points with
    error bars. Hollow grey markers: interval contains 0."""
    col, scale, unit, _ = _metric(metric)
    require(deltas, ["arm", "by", f"{col}_mean", f"{col}_lo", f"{col}_hi"], "ablation_curves")
    if deltas.empty:
        return empty(title, "no arms")
    depth_arms = deltas[deltas["by"].isin(["depth-prefix", "depth-suffix"])]
    other = deltas[~deltas["by"].isin(["depth-prefix", "depth-suffix", "layer", "component", "layer-component"])]
    if depth_arms.empty and other.empty:
        return empty(title, "This ablation has no depth or whole-model arms: its arms are in the layer × component map.")
    # Only the panels this ablation has arms for (an empty "first / last k" panel said nothing).
    panels = [p for p, arms in (("first / last k blocks", depth_arms), ("whole-model arms", other)) if not arms.empty]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.12,
                        column_widths=[0.62, 0.38] if len(panels) == 2 else None)
    depth_col, other_col = (1, len(panels))
    all_row = deltas[deltas["arm"] == "all"]
    for i, (by, name) in enumerate((("depth-prefix", "first k blocks"), ("depth-suffix", "last k blocks"))):
        d = deltas[deltas["by"] == by].sort_values("k")
        if d.empty:
            continue
        k = d["k"].astype(int).tolist()
        parts = [d]
        if depth is not None and not all_row.empty:
            parts.append(all_row.assign(k=depth))
            k.append(depth)
        d = pd.concat(parts)
        y, lo, hi = (d[f"{col}_{s}"].astype(float).to_numpy() * scale for s in ("mean", "lo", "hi"))
        greys = [_grey(r, col) for _, r in d.iterrows()]
        fig.add_trace(go.Scatter(
            x=[0] + k, y=np.r_[0.0, y], name=name, mode="lines+markers", line=dict(color=color(i)),
            marker=dict(size=9, color=["white"] + [("white" if g else color(i)) for g in greys],
                        line=dict(color=[NOT_DISTINGUISHABLE] + [(NOT_DISTINGUISHABLE if g else color(i)) for g in greys],
                                  width=2)),
            error_y=dict(type="data", symmetric=False, array=np.r_[0.0, hi - y], arrayminus=np.r_[0.0, y - lo]),
            customdata=np.c_[np.r_[0.0, lo], np.r_[0.0, hi]],
            hovertemplate="k = %{x}<br>" + unit + " = %{y:.3g} [%{customdata[0]:.3g}, %{customdata[1]:.3g}]<extra>"
                          + name + "</extra>"), row=1, col=depth_col)
    if not other.empty:
        y, lo, hi = (other[f"{col}_{s}"].astype(float).to_numpy() * scale for s in ("mean", "lo", "hi"))
        greys = [_grey(r, col) for _, r in other.iterrows()]
        fig.add_trace(go.Scatter(
            x=other["arm"].tolist(), y=y, mode="markers", name="arm", showlegend=False,
            marker=dict(size=11, color=["white" if g else color(2) for g in greys],
                        line=dict(color=[NOT_DISTINGUISHABLE if g else color(2) for g in greys], width=2)),
            error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo), customdata=np.c_[lo, hi],
            hovertemplate="%{x}<br>" + unit + " = %{y:.3g} [%{customdata[0]:.3g}, %{customdata[1]:.3g}]<extra></extra>"),
            row=1, col=other_col)
        fig.update_xaxes(type="category", row=1, col=other_col)
    for c in range(1, len(panels) + 1):
        fig.add_hline(y=0, line=dict(color="gray", dash="dot"), row=1, col=c)
    if not depth_arms.empty:
        fig.update_xaxes(title_text="k (blocks with pathways)", row=1, col=depth_col)
    fig.update_yaxes(title_text=unit, row=1, col=1)
    fig = finish(fig, f"{title}<br><sup>{_note(deltas, 'hollow grey: interval contains 0')}</sup>", height=440)
    fig.update_layout(margin=dict(t=130))
    return fig


# Arms often have close estimates: one label position for all piles their names on top of each
# other. Neighbours in x order take the next position of this cycle, so four close points point four ways.
LABEL_CYCLE = ("top right", "bottom left", "bottom right", "top left")
MAX_LABELLED = 12


def _label_positions(x: np.ndarray) -> list[str]:
    """Text position of each point: the LABEL_CYCLE entry of its rank in x."""
    rank = np.empty(len(x), dtype=int)
    rank[np.argsort(x, kind="stable")] = np.arange(len(x))
    return [LABEL_CYCLE[r % len(LABEL_CYCLE)] for r in rank]


def estimate_scatter(deltas: pd.DataFrame, estimate: pd.DataFrame, agreement: dict, metric: str = "acc",
                     title: str = "First-order estimate (one backward pass) vs trained ablation") -> go.Figure:
    """Each arm: its first-order gain per pathway (mean |∂L/∂λ| over the arm's pathways, at λ = 0 on
    the trained baseline, mean over seeds; a sum would grow with the arm's number of pathways)
    against the trained mean Δ (y, with its t-interval); Spearman ρ with its interval in the title."""
    col, scale, unit, _ = _metric(metric)
    require(deltas, ["arm", f"{col}_mean", f"{col}_lo", f"{col}_hi"], "estimate_scatter")
    require(estimate, ["arm", "gain"], "estimate_scatter")
    est = per_pathway_gain(estimate)
    d = deltas[deltas["arm"].isin(est.index)]
    if d.empty:
        return empty(title, "no arm has both an estimate and a trained result")
    y, lo, hi = (d[f"{col}_{s}"].astype(float).to_numpy() * scale for s in ("mean", "lo", "hi"))
    greys = [_grey(r, col) for _, r in d.iterrows()]
    x = est.loc[d["arm"]].to_numpy()
    fig = go.Figure(go.Scatter(
        # Beyond a dozen arms the names pile up: then they are on hover only.
        x=x, y=y, text=d["arm"], mode="markers+text" if len(d) <= MAX_LABELLED else "markers",
        textposition=_label_positions(x),
        marker=dict(size=10, color=["white" if g else color(0) for g in greys],
                    line=dict(color=[NOT_DISTINGUISHABLE if g else color(0) for g in greys], width=2)),
        error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo),
        hovertemplate="%{text}<br>gain per pathway %{x:.3g} nats/unit λ<br>" + unit + " = %{y:.3g}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="gray", dash="dot"))
    key = "spearman_acc" if metric == "acc" else "spearman_loss"
    rho, n_arms = agreement.get(key, float("nan")), agreement.get("n_arms", len(d))
    what = f"trained {'Δacc' if metric == 'acc' else '−Δloss'}"
    lo, hi = agreement.get(f"{key}_lo", float("nan")), agreement.get(f"{key}_hi", float("nan"))
    ci = f" [{lo:+.2f}, {hi:+.2f}] (95% bootstrap over arms)" if lo == lo and hi == hi else ""
    rank = (f"Spearman ρ = {rho:+.2f}{ci} over {n_arms} arms (rank agreement of estimate and {what})" if rho == rho
            else f"no Spearman ρ: {n_arms} arm(s), a rank agreement needs at least 3")
    sub = f"{rank}<br>x: mean |∂L/∂λ| per pathway of the arm, at λ = 0 on the trained baseline, training split, mean over seeds"
    fig = finish(fig, f"{title}<br><sup>{sub}</sup>", "first-order gain per pathway |∂L/∂λ| (nats per unit λ)", unit)
    fig.update_layout(margin=dict(t=110))
    return fig
