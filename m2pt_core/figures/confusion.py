"""Confusion matrix heatmap: rows are true classes, columns predicted classes; cells show counts
and are coloured by the share of the row (so small classes stay readable)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ._style import HEIGHT, TEMPLATE, wrap_title


def confusion_heatmap(matrix: np.ndarray, true_names: Sequence[str], pred_names: Sequence[str],
                      title: str = "Confusion matrix") -> go.Figure:
    """matrix: (T, P) counts, true class by predicted class."""
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig = go.Figure(go.Heatmap(
        z=100 * share, x=list(pred_names), y=list(true_names), text=m.astype(int), texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=100, colorbar={"title": "% of row"},
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text} items (%{z:.1f}% of the row)<extra></extra>"))
    wrapped = wrap_title(title, 40)
    fig.update_layout(template=TEMPLATE, height=max(HEIGHT, 24 * len(true_names) + 160), title=wrapped,
                      margin=dict(t=40 + 22 * wrapped.count("<br>") + 30),
                      xaxis_title="predicted class", yaxis_title="true class", yaxis_autorange="reversed")
    return fig
