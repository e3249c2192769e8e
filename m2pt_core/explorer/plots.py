"""The explorer's figures: thin adapters from session results to m2pt_core.figures (the same
builders the notebooks use), plus a placeholder figure that explains why a plot is empty."""
from __future__ import annotations

from typing import Mapping, Optional

import pandas as pd
import plotly.graph_objects as go

from .. import figures


def lambda_heatmap(table: pd.DataFrame, title: str = "λ per layer and component (as set now)") -> go.Figure:
    """table: lambda_table(model) (long: layer, component, lam)."""
    return figures.lambda_heatmap(table, title=title)


def knockout_figure(table: pd.DataFrame, split: Optional[str] = None) -> go.Figure:
    return figures.knockout_heatmap(table, split=split)


def sweep_figure(table: pd.DataFrame, learned: Optional[Mapping[int, float]] = None,
                 learned_score: Optional[float] = None, split: Optional[str] = None) -> go.Figure:
    """learned / learned_score / split: ExplorerSession.sweep_reference(), so the "learned λ"
    markers and the "as trained" line stay on the learned λ after edits."""
    return figures.sweep_curves(table, learned=learned, learned_score=learned_score, split=split)


def stats_figures(stats: pd.DataFrame) -> tuple[go.Figure, go.Figure]:
    """(norms and ‖λW'‖/‖W‖ per layer, cosine(W, W') per layer)."""
    return figures.weight_norm_bars(stats), figures.cosine_by_layer(stats)


def trajectories_figure(traj: pd.DataFrame) -> go.Figure:
    return figures.lambda_trajectory_plot(traj)


def history_figure(runs: Mapping[str, pd.DataFrame], title: str = "Training curves") -> go.Figure:
    """runs: {label: per-epoch metrics (read_log frame, or the records of a live run)}."""
    return figures.training_curves(dict(runs), title=title)


def topk_figure(table: pd.DataFrame) -> go.Figure:
    return figures.prediction_bars(table)


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to plot."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14), x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=200, margin=dict(l=10, r=10, t=20, b=10), template="plotly_white")
    return fig
