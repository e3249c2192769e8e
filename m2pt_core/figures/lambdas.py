"""λ figures: the learned λ as a layer × component heatmap, and λ over training epochs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import DIVERGING, EPOCH, LAMBDA, LAYER, HEIGHT, color, component_order, empty, finish, require


def lambda_heatmap(table: pd.DataFrame, title: str = "Learned λ per layer and component") -> go.Figure:
    """Heatmap of λ (x: layer, y: component), diverging colours centred at 0.

    table: lambda_table(model) or weight_stats(model) (columns layer, component, lam)."""
    require(table, ["layer", "component", "lam"], "lambda_heatmap")
    if table.empty:
        return empty(title, "no pathways")
    grid = table.pivot_table(index="component", columns="layer", values="lam", aggfunc="first")
    grid = grid.reindex(component_order(grid.index))
    z = grid.to_numpy(dtype=float)                                   # (components, layers)
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in grid.columns], y=list(grid.index), name="λ", colorscale=DIVERGING, zmid=0,
        text=np.vectorize(lambda v: f"{v:.3g}")(z), texttemplate="%{text}",
        colorbar=dict(title=dict(text="λ")),
        hovertemplate="layer %{x}<br>%{y}<br>λ = %{z:.4g}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")   # first component on top, as in a table
    return finish(fig, title, LAYER, "component", height=max(300, 90 + 60 * len(grid.index)))


def lambda_trajectory_plot(traj: pd.DataFrame, facet: bool = True,
                           title: str = "λ during training") -> go.Figure:
    """λ over epochs from lambda_trajectories(log) (columns epoch, name, layer, component, lam).

    facet=True: one panel per component, one line per layer (legend entries "layer k", shared by
    the panels). facet=False: one panel, one line per pathway (named like blocks.3.mlp.fc1)."""
    require(traj, ["epoch", "name", "layer", "component", "lam"], "lambda_trajectory_plot")
    if traj.empty:
        return empty(title, "no λ in this log (a baseline run has no pathways)")
    traj = traj.sort_values("epoch")
    if not facet:
        fig = go.Figure()
        for i, (name, d) in enumerate(traj.groupby("name", sort=False)):
            fig.add_trace(go.Scatter(x=d["epoch"], y=d["lam"], name=name, mode="lines+markers",
                                     line=dict(color=color(i))))
        return finish(fig, title, EPOCH, LAMBDA, height=HEIGHT + 60)
    comps = component_order(traj["component"])
    cols = min(2, len(comps))
    rows = -(-len(comps) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=comps, shared_xaxes=True,
                        vertical_spacing=0.14, horizontal_spacing=0.08)
    layers = sorted(traj["layer"].unique())
    for p, comp in enumerate(comps):
        r, c = p // cols + 1, p % cols + 1
        for layer in layers:
            d = traj[(traj["component"] == comp) & (traj["layer"] == layer)]
            if d.empty:
                continue
            fig.add_trace(go.Scatter(x=d["epoch"], y=d["lam"], name=f"layer {layer}", mode="lines+markers",
                                     legendgroup=f"layer {layer}", showlegend=p == 0,
                                     line=dict(color=color(int(layer)))), row=r, col=c)
        fig.update_yaxes(title_text=LAMBDA if c == 1 else None, row=r, col=c)
        fig.update_xaxes(title_text=EPOCH if r == rows else None, row=r, col=c)
    return finish(fig, title, height=max(HEIGHT, 300 * rows))
