"""Per-class accuracy of two models, and top-k predictions of one sample by several models."""
from __future__ import annotations

from typing import Mapping, Union

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import ACC, HEIGHT, color, empty, finish, require


def per_class_bars(table: pd.DataFrame, title: str = "Accuracy per class") -> go.Figure:
    """Grouped bars: one bar trace per model (named after it), x = class, y = accuracy (%).
    table: per_class_accuracy(...) or compare_per_class(...)."""
    require(table, ["model", "class_index", "class", "n", "acc"], "per_class_bars")
    if table.empty:
        return empty(title, "no classes")
    fig = go.Figure()
    for i, (model, d) in enumerate(table.groupby("model", sort=False)):
        d = d.sort_values("class_index")
        fig.add_trace(go.Bar(x=d["class"].astype(str), y=100.0 * d["acc"], name=str(model), marker_color=color(i),
                             customdata=d["n"], hovertemplate="%{x}: %{y:.1f}% of %{customdata} samples<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 100])
    return finish(fig, title, "class", ACC)


def prediction_bars(topk: Union[pd.DataFrame, Mapping[str, pd.DataFrame]],
                    title: str = "Top predictions") -> go.Figure:
    """One panel per model, stacked (their titles and class names never collide, even on a phone),
    horizontal bars of probability (%) for its top-k classes (best on top).
    topk: compare_topk(...) / predict_topk(...) or {model name: predict_topk(...)}."""
    if not isinstance(topk, pd.DataFrame):
        topk = pd.concat([d.assign(model=name) for name, d in topk.items()], ignore_index=True) if topk else pd.DataFrame()
    if topk.empty:
        return empty(title, "no predictions")
    require(topk, ["model", "rank", "class", "prob"], "prediction_bars")
    models = list(dict.fromkeys(topk["model"]))
    k = int(topk["rank"].max())
    fig = make_subplots(rows=len(models), cols=1, subplot_titles=[str(m) for m in models], shared_xaxes=True,
                        vertical_spacing=min(0.3, 90 / (len(models) * (60 + 30 * k))))
    for i, model in enumerate(models):
        d = topk[topk["model"] == model].sort_values("rank", ascending=False)   # best at the top
        fig.add_trace(go.Bar(x=100.0 * d["prob"], y=d["class"].astype(str), orientation="h", name=str(model),
                             marker_color=color(i), text=[f"{100 * p:.1f}%" for p in d["prob"]], textposition="auto",
                             hovertemplate="%{y}: %{x:.2f}%<extra></extra>"), row=i + 1, col=1)
        fig.update_xaxes(range=[0, 100], row=i + 1, col=1)
        fig.update_yaxes(type="category", row=i + 1, col=1)
    fig.update_xaxes(title_text="probability (%)", row=len(models), col=1)
    fig.update_layout(showlegend=False)
    return finish(fig, title, height=max(260, 110 + len(models) * (60 + 30 * k)))
