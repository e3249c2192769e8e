"""Shared look of every figure: template, heights, labels and units, colours, input checks.

Accuracies arrive as fractions (analysis DataFrames) and are shown in percent everywhere."""
from __future__ import annotations

from typing import Iterable, Optional

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

TEMPLATE = "plotly_white"
HEIGHT = 420
ACC = "accuracy (%)"
DELTA_ACC = "Δ accuracy (percentage points)"
LOSS = "cross-entropy loss (nats)"
LAMBDA = "λ (dimensionless)"
LAYER = "layer (block index)"
EPOCH = "epoch"
COLORS = px.colors.qualitative.Plotly
DIVERGING = "RdBu"   # red = negative, blue = positive; always used with zmid=0
# Fixed, symmetric colour ranges of Δ maps: a colour means the same Δ on every repaint and model
# (values beyond saturate; the cell text gives the number).
DELTA_ACC_RANGE = 10.0   # percentage points
DELTA_LOSS_RANGE = 0.2   # nats
NOT_DISTINGUISHABLE = "rgb(215,215,215)"   # cells/points whose interval contains 0


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def pct(values) -> "pd.Series":
    """Fraction → percent."""
    return 100.0 * values


def require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """ValueError naming the missing columns (figures take analysis DataFrames, nothing else)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} expects a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing}.")


def wrap_title(text: str, width: int = 48) -> str:
    """``text`` broken into lines of at most ~``width`` characters at spaces (Plotly titles do
    not wrap: a long one is cut off in a narrow plot)."""
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(lines + [line])


def finish(fig: go.Figure, title: str, x: Optional[str] = None, y: Optional[str] = None,
           height: int = HEIGHT) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.01), height=height,
                      margin=dict(l=70, r=30, t=70, b=60), legend=dict(title=None))
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def empty(title: str, message: str) -> go.Figure:
    """A figure with no traces and a centred note (e.g. a baseline run has no λ to plot)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="gray"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return finish(fig, title)


def sample_note(n, split: Optional[str] = None, level: Optional[float] = None) -> str:
    """'n = 500 items of the validation split; 95% paired intervals' (for a title's second line)."""
    parts = []
    if n is not None and n == n:
        parts.append(f"n = {int(n):,} items" + (f" of the {split} split" if split else ""))
    elif split:
        parts.append(f"{split} split")
    if level:
        parts.append(f"{100 * level:.0f}% paired intervals vs the model as it is")
    return "; ".join(parts)


def component_order(values: Iterable[str]) -> list[str]:
    """Components in block order (qkv, proj, fc1, fc2), then anything else (e.g. "all")."""
    from ..pathways import COMPONENTS
    seen = list(dict.fromkeys(values))
    return [c for c in COMPONENTS if c in seen] + [c for c in seen if c not in COMPONENTS]
