"""Sweep figures: accuracy (or loss) as λ of one layer moves, and as all λ are scaled together."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ._style import ACC, LOSS, color, empty, finish, pct, require

_X_LABEL = {"absolute": "λ (dimensionless)", "scale": "λ as a multiple of the learned λ (×)"}


def _metric(metric: str) -> tuple[str, float, str]:
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}.")
    return (metric, 100.0, ACC) if metric == "acc" else (metric, 1.0, LOSS)


def sweep_curves(sweep: pd.DataFrame, component: str | None = None, metric: str = "acc",
                 title: str | None = None) -> go.Figure:
    """One line per layer: accuracy (%) or loss against the swept value, with one marker trace
    "learned λ" at each layer's trained setting (x = learned λ, or 1 in scale mode; y = the
    model's own score) and a dashed line at that score.

    sweep: lambda_sweep(...). component: which swept component to show ("all" when present,
    else the first one in the table)."""
    require(sweep, ["layer", "component", "mode", "value", "lam_learned", metric, f"base_{metric}"], "sweep_curves")
    col, scale, ylabel = _metric(metric)
    if sweep.empty:
        return empty(title or "λ sweep", "no sweep results")
    comps = list(dict.fromkeys(sweep["component"]))
    component = component or ("all" if "all" in comps else comps[0])
    if component not in comps:
        raise ValueError(f"component {component!r} was not swept; the table has {comps}.")
    d = sweep[sweep["component"] == component]
    mode = str(d["mode"].iloc[0])
    what = "whole layer" if component == "all" else component
    title = title or f"λ sweep per layer ({what}, {mode} grid)"
    fig = go.Figure()
    layers = sorted(d["layer"].unique())
    for layer in layers:
        g = d[d["layer"] == layer].sort_values("value")
        fig.add_trace(go.Scatter(x=g["value"], y=g[col] * scale, name=f"layer {layer}", mode="lines",
                                 line=dict(color=color(int(layer)))))
    learned = d.groupby("layer", sort=True).first()
    x = [1.0] * len(learned) if mode == "scale" else learned["lam_learned"].tolist()
    base = float(d[f"base_{metric}"].iloc[0]) * scale
    fig.add_trace(go.Scatter(x=x, y=[base] * len(learned), name="learned λ", mode="markers",
                             marker=dict(size=11, symbol="diamond", color=[color(int(i)) for i in learned.index],
                                         line=dict(width=1, color="black")),
                             text=[f"layer {i}" for i in learned.index],
                             hovertemplate="%{text}: learned λ %{x:.4g}<extra></extra>"))
    fig.add_hline(y=base, line_dash="dash", line_color="gray", annotation_text="as trained",
                  annotation_position="bottom right")
    return finish(fig, title, _X_LABEL.get(mode, "value"), ylabel)


def global_scale_curve(df: pd.DataFrame, metric: str = "acc",
                       title: str = "All λ scaled together") -> go.Figure:
    """Accuracy (%) or loss against the global λ scale (0 = no pathways, 1 = as trained), with a
    marker at 1. df: global_scale_sweep(...)."""
    require(df, ["scale", metric, f"base_{metric}"], "global_scale_curve")
    col, scale, ylabel = _metric(metric)
    if df.empty:
        return empty(title, "no sweep results")
    d = df.sort_values("scale")
    fig = go.Figure(go.Scatter(x=d["scale"], y=d[col] * scale, name="all λ × scale", mode="lines+markers",
                               line=dict(color=color(0))))
    fig.add_trace(go.Scatter(x=[1.0], y=[float(d[f"base_{metric}"].iloc[0]) * scale], name="as trained",
                             mode="markers", marker=dict(size=12, symbol="diamond", color="black")))
    return finish(fig, title, "scale applied to every λ (×)", ylabel)
