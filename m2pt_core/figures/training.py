"""Training curves of several runs (baseline vs M2PT) from their logs."""
from __future__ import annotations

from typing import Mapping, Union

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import ACC, EPOCH, HEIGHT, LOSS, color, empty, finish, require

Logs = Union[Mapping[str, pd.DataFrame], pd.DataFrame]


def _runs(logs: Logs) -> dict[str, pd.DataFrame]:
    if isinstance(logs, pd.DataFrame):
        require(logs, ["run", "epoch"], "training_curves")
        return {str(r): d for r, d in logs.groupby("run", sort=False)}
    return {str(k): v for k, v in logs.items()}


def training_curves(logs: Logs, title: str = "Training curves") -> go.Figure:
    """Left: validation accuracy (%) per epoch; right: training loss (solid) and validation loss
    (dashed). One colour per run. logs: {run label: read_log(path)} (e.g. {"baseline": …,
    "M2PT": …}) or one long DataFrame with a "run" column. val_acc is a fraction, as logged."""
    runs = _runs(logs)
    if not runs:
        return empty(title, "no runs")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("validation accuracy", "loss"), horizontal_spacing=0.1)
    for i, (run, d) in enumerate(runs.items()):
        require(d, ["epoch"], f"training_curves (run {run!r})")
        d = d.sort_values("epoch")
        c = color(i)
        if "val_acc" in d and d["val_acc"].notna().any():
            fig.add_trace(go.Scatter(x=d["epoch"], y=100.0 * d["val_acc"].astype(float), name=f"{run} val acc",
                                     mode="lines+markers", line=dict(color=c), legendgroup=run), row=1, col=1)
        for col, dash, label in (("train_loss", "solid", "train loss"), ("val_loss", "dash", "val loss")):
            if col in d and d[col].notna().any():
                fig.add_trace(go.Scatter(x=d["epoch"], y=d[col].astype(float), name=f"{run} {label}",
                                         mode="lines+markers", line=dict(color=c, dash=dash), legendgroup=run),
                              row=1, col=2)
    fig.update_xaxes(title_text=EPOCH, dtick=1)
    fig.update_yaxes(title_text=ACC, row=1, col=1)
    fig.update_yaxes(title_text=LOSS, row=1, col=2)
    return finish(fig, title, height=HEIGHT)
