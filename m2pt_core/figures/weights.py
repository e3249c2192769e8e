"""Weight figures from weight_stats / weight_stats_pair: norms, the relative size of the
auxiliary contribution ‖λW'‖/‖W‖, and the alignment cosine(W, W')."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import HEIGHT, LAYER, color, component_order, empty, finish, require

_STATS = ["layer", "component", "norm_w", "norm_aux", "norm_lam_aux", "ratio", "cosine"]


def weight_norm_bars(stats: pd.DataFrame, component: str | None = None,
                     title: str = "Weight norms and the size of the pathway") -> go.Figure:
    """Top: grouped bars ‖W‖, ‖W'‖, ‖λW'‖ per layer (Frobenius; the layer's components combined as
    sqrt(Σ‖·‖²), i.e. the norm of all its pathway weights together, or only ``component``).
    Bottom: ‖λW'‖/‖W‖ per layer, one line per component. Bars of ‖λW'‖ are empty before training
    (weight_stats_pair: λ is NaN)."""
    require(stats, _STATS, "weight_norm_bars")
    if stats.empty:
        return empty(title, "no layers")
    d = stats if component is None else stats[stats["component"] == component]
    if d.empty:
        raise ValueError(f"component {component!r} is not in the table; it has {sorted(stats['component'].unique())}.")
    # ‖[W_1, …, W_c]‖_F = sqrt(Σ ‖W_i‖_F²); min_count keeps an all-NaN column NaN instead of 0.
    norms = (d[["layer", "norm_w", "norm_aux", "norm_lam_aux"]].set_index("layer") ** 2).groupby(level=0).sum(min_count=1) ** 0.5
    x = [str(i) for i in norms.index]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14, row_heights=[0.6, 0.4],
                        subplot_titles=("Frobenius norms" + ("" if component is None else f" ({component})"),
                                        "‖λW'‖ / ‖W‖"))
    for j, (col, label) in enumerate([("norm_w", "‖W‖ (target)"), ("norm_aux", "‖W'‖ (auxiliary)"),
                                      ("norm_lam_aux", "‖λW'‖ (pathway)")]):
        fig.add_trace(go.Bar(x=x, y=norms[col], name=label, marker_color=color(j)), row=1, col=1)
    for j, comp in enumerate(component_order(d["component"])):
        g = d[d["component"] == comp].sort_values("layer")
        fig.add_trace(go.Scatter(x=[str(i) for i in g["layer"]], y=g["ratio"], name=f"ratio {comp}",
                                 mode="lines+markers", line=dict(color=color(3 + j))), row=2, col=1)
    fig.update_yaxes(title_text="norm (weight units)", row=1, col=1)
    fig.update_yaxes(title_text="ratio (dimensionless)", row=2, col=1)
    # Layer labels under both rows (a shared x-axis hides the top one's); the legend goes below the
    # plot, so the bars keep the whole width on a narrow screen instead of half of it.
    fig.update_xaxes(type="category", showticklabels=True)
    fig.update_xaxes(title_text=LAYER, row=2, col=1)
    fig = finish(fig, title, height=HEIGHT + 260)
    fig.update_layout(barmode="group", legend=dict(orientation="h", x=0, xanchor="left", y=-0.14, yanchor="top"),
                      margin=dict(b=120))
    return fig


def cosine_by_layer(stats: pd.DataFrame, title: str = "Alignment of target and auxiliary weights") -> go.Figure:
    """cosine(W, W') per layer, one line per component; 0 means unrelated directions."""
    require(stats, _STATS, "cosine_by_layer")
    if stats.empty:
        return empty(title, "no layers")
    fig = go.Figure()
    for j, comp in enumerate(component_order(stats["component"])):
        g = stats[stats["component"] == comp].sort_values("layer")
        fig.add_trace(go.Scatter(x=g["layer"], y=g["cosine"], name=comp, mode="lines+markers",
                                 line=dict(color=color(j))))
    fig.add_hline(y=0, line_color="gray", line_width=1)
    span = float(np.nanmax(np.abs(stats["cosine"]))) if stats["cosine"].notna().any() else 1.0
    fig.update_yaxes(range=[-1.1 * span, 1.1 * span])
    fig.update_xaxes(dtick=1)
    return finish(fig, title, LAYER, "cosine(W, W') (dimensionless)")
