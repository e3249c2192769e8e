"""Plotly figures for the explorer's panels, built from the analysis DataFrames (knockout map,
λ sweep, weight statistics, λ trajectories, training curves, top-k predictions)."""
from __future__ import annotations


import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..pathways import COMPONENTS

_M = dict(l=10, r=10, t=50, b=10)


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, margin=_M, height=height, template="plotly_white")
    return fig


def lambda_heatmap(frame: pd.DataFrame, title: str = "λ per layer and component") -> go.Figure:
    """frame: layer × component (as ExplorerSession.lambda_frame)."""
    comps = [c for c in COMPONENTS if c in frame.columns]
    z = frame[comps].to_numpy(dtype=float)
    bound = max(float(abs(z).max()) if z.size else 0.0, 1e-6)
    fig = go.Figure(go.Heatmap(z=z, x=comps, y=[f"block {int(i)}" for i in frame["layer"]], zmid=0,
                               zmin=-bound, zmax=bound, colorscale="RdBu_r", colorbar=dict(title="λ"),
                               text=[[f"{v:.4f}" for v in row] for row in z], texttemplate="%{text}",
                               hovertemplate="%{y} %{x}: λ = %{z:.5f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title)


def knockout_figure(table: pd.DataFrame) -> go.Figure:
    """knockout_map rows → heatmap of Δ accuracy (points) per layer × component, plus 'all'."""
    t = table[table["layer"] >= 0].copy()
    t["delta_pts"] = 100 * t["delta_acc"]
    cols = [c for c in (*COMPONENTS, "all") if c in set(t["component"])]
    wide = t.pivot(index="layer", columns="component", values="delta_pts").reindex(columns=cols)
    z = wide.to_numpy(dtype=float)
    bound = max(float(abs(z).max()) if z.size else 0.0, 0.1)
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=[f"block {i}" for i in wide.index], zmid=0, zmin=-bound,
                               zmax=bound, colorscale="RdBu", colorbar=dict(title="Δ acc (pts)"),
                               text=[[f"{v:+.2f}" for v in row] for row in z], texttemplate="%{text}",
                               hovertemplate="%{y} %{x} off: Δ = %{z:+.2f} pts<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    everything = table[table["layer"] < 0]
    sub = (f" · all off: {100 * float(everything['delta_acc'].iloc[0]):+.2f} pts" if len(everything) else "")
    return _layout(fig, f"Knockout: accuracy change with λ = 0 (negative = that pathway helps){sub}", 380)


def sweep_figure(table: pd.DataFrame) -> go.Figure:
    """lambda_sweep rows → one accuracy curve per layer."""
    t = table.copy()
    t["acc_pct"] = 100 * t["acc"]
    t["curve"] = [f"block {i}" + ("" if c == "all" else f" {c}") for i, c in zip(t["layer"], t["component"])]
    mode = t["mode"].iloc[0] if len(t) else "absolute"
    xlabel = "λ multiple of the learned value" if mode == "scale" else "λ (absolute)"
    fig = px.line(t, x="value", y="acc_pct", color="curve", markers=True,
                  labels={"value": xlabel, "acc_pct": "val accuracy (%)", "curve": ""})
    if len(t):
        fig.add_hline(y=100 * float(t["base_acc"].iloc[0]), line_dash="dot", annotation_text="λ as set now")
    return _layout(fig, "λ sweep, one layer at a time (its four pathways together)", 380)


def stats_figure(stats: pd.DataFrame) -> go.Figure:
    """weight_stats rows → norms, ratio ‖λW'‖/‖W‖ and cosine(W, W') per layer, one line per component."""
    panels = [("norm_w", "‖W‖"), ("norm_aux", "‖W'‖"), ("ratio", "‖λW'‖ / ‖W‖"), ("cosine", "cosine(W, W')")]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[p[1] for p in panels], vertical_spacing=0.18)
    colours = px.colors.qualitative.Plotly
    for k, (col, _) in enumerate(panels):
        for j, comp in enumerate(c for c in COMPONENTS if c in set(stats["component"])):
            s = stats[stats["component"] == comp]
            fig.add_trace(go.Scatter(x=s["layer"], y=s[col], mode="lines+markers", name=comp,
                                     line=dict(color=colours[j]), legendgroup=comp, showlegend=k == 0),
                          row=k // 2 + 1, col=k % 2 + 1)
    fig.update_xaxes(title_text="block", dtick=1)
    return _layout(fig, "Weights per layer: target W, auxiliary W', and how much λW' adds", 560)


def trajectories_figure(traj: pd.DataFrame) -> go.Figure:
    """lambda_trajectories rows → λ over epochs, one line per pathway."""
    if traj.empty:
        return empty_figure("No λ were logged for this model (a baseline, or no training log).")
    fig = px.line(traj, x="epoch", y="lam", color="component", line_group="name", markers=True,
                  facet_col="component", facet_col_wrap=4, hover_name="name",
                  labels={"lam": "λ", "epoch": "epoch"})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(showlegend=False)
    return _layout(fig, "λ over training (one line per block)", 360)


def history_figure(histories: dict[str, pd.DataFrame], metric: str = "val_acc",
                   title: str = "validation accuracy per epoch") -> go.Figure:
    """Per-epoch metric curves of several runs (name → read_log frame)."""
    fig = go.Figure()
    for name, h in histories.items():
        if metric in h.columns and len(h):
            y = 100 * h[metric] if metric.endswith("acc") else h[metric]
            fig.add_trace(go.Scatter(x=h["epoch"], y=y, mode="lines+markers", name=name))
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text=metric.replace("_", " ") + (" (%)" if metric.endswith("acc") else ""))
    return _layout(fig, title, 340)


def topk_figure(table: pd.DataFrame) -> go.Figure:
    """compare_topk rows → horizontal bars of probability per class, one panel per model."""
    models = list(dict.fromkeys(table["model"]))
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=models, horizontal_spacing=0.22)
    for j, m in enumerate(models):
        t = table[table["model"] == m].sort_values("rank", ascending=False)
        fig.add_trace(go.Bar(x=100 * t["prob"], y=[str(c) for c in t["class"]], orientation="h",
                             text=[f"{100 * p:.1f}%" for p in t["prob"]], textposition="auto",
                             marker_color=px.colors.qualitative.Plotly[j]), 1, j + 1)
        fig.update_xaxes(title_text="probability (%)", range=[0, 100], row=1, col=j + 1)
        fig.update_yaxes(type="category", row=1, col=j + 1)
    fig.update_layout(showlegend=False)
    return _layout(fig, "Top predictions", 320)


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14), x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", 200)

