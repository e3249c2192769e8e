"""Knockout heatmap: how much accuracy (or loss) changes when pathways are switched off."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._style import DELTA_ACC, DIVERGING, LAYER, component_order, empty, finish, require

_ALL_LAYERS = -1   # analysis.ALL_LAYERS: the "everything off at once" row


def knockout_heatmap(ko: pd.DataFrame, metric: str = "acc",
                     title: str = "Knockout: change when a pathway is switched off (λ = 0)") -> go.Figure:
    """Δ accuracy (percentage points; metric="acc") or Δ loss (metric="loss") per layer (x) and
    component (y; the row "all" is the whole layer), diverging colours centred at 0. The
    all-at-once result (layer −1) goes into the title.

    ko: knockout_map(model, X, y)."""
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}.")
    col = f"delta_{metric}"
    require(ko, ["layer", "component", col], "knockout_heatmap")
    if ko.empty:
        return empty(title, "no pathways to knock out")
    scale, unit = (100.0, DELTA_ACC) if metric == "acc" else (1.0, "Δ loss (nats)")
    per_layer = ko[ko["layer"] != _ALL_LAYERS]
    everything = ko[ko["layer"] == _ALL_LAYERS]
    grid = per_layer.pivot_table(index="component", columns="layer", values=col, aggfunc="first") * scale
    grid = grid.reindex(component_order(grid.index))
    z = grid.to_numpy(dtype=float)                                   # (components, layers)
    fmt = "{:+.2f}" if metric == "acc" else "{:+.3g}"
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in grid.columns], y=list(grid.index), name=unit, colorscale=DIVERGING, zmid=0,
        text=np.vectorize(lambda v: "" if np.isnan(v) else fmt.format(v))(z), texttemplate="%{text}",
        colorbar=dict(title=dict(text="Δ acc (pp)" if metric == "acc" else "Δ loss")),
        hovertemplate="layer %{x}<br>%{y} off<br>" + unit + " = %{z:.3g}<extra></extra>"))
    if not everything.empty:
        v = float(everything[col].iloc[0]) * scale
        title = f"{title}<br><sup>all pathways off at once: {fmt.format(v)} {'pp' if metric == 'acc' else 'nats'}</sup>"
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")   # first component on top, as in a table
    return finish(fig, title, LAYER, "pathway switched off", height=max(320, 110 + 60 * len(grid.index)))
