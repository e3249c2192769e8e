"""Knockout heatmap: how much accuracy (or loss) changes when pathways are switched off."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis.intervals import LEVEL as _LEVEL   # the level knockout_map uses by default
from ._style import (DELTA_ACC, DELTA_ACC_RANGE, DELTA_LOSS_RANGE, DIVERGING, LAYER, NOT_DISTINGUISHABLE,
                     component_order, empty, finish, require, sample_note)

_ALL_LAYERS = -1   # analysis.ALL_LAYERS: the "everything off at once" row


def _grid(per_layer: pd.DataFrame, col: str, index: list) -> np.ndarray:
    g = per_layer.pivot_table(index="component", columns="layer", values=col, aggfunc="first")
    return g.reindex(index).to_numpy(dtype=float)                      # (components, layers)


def knockout_heatmap(ko: pd.DataFrame, metric: str = "acc",
                     title: str = "Knockout: change when a pathway is switched off (λ = 0)",
                     split: Optional[str] = None, zmax: Optional[float] = None) -> go.Figure:
    """Δ accuracy (percentage points; metric="acc") or Δ loss (metric="loss") per layer (x) and
    component (y; the row "all" is the whole layer). Colours: diverging, centred at 0, on a fixed
    symmetric range (±zmax; default ±10 points or ±0.2 nats), so a colour means the same Δ on every
    repaint. Cells not distinguishable from 0 are grey (when ko has the interval columns of
    knockout_map: the interval contains 0, or for accuracy McNemar's p ≥ 1 − level). The title states n and ``split``; the all-at-once result goes into it too."""
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}.")
    col = f"delta_{metric}"
    require(ko, ["layer", "component", col], "knockout_heatmap")
    if ko.empty:
        return empty(title, "no pathways to knock out")
    scale, unit = (100.0, DELTA_ACC) if metric == "acc" else (1.0, "Δ loss (nats)")
    zmax = float(zmax if zmax is not None else (DELTA_ACC_RANGE if metric == "acc" else DELTA_LOSS_RANGE))
    has_ci = {f"{col}_lo", f"{col}_hi"} <= set(ko.columns)
    per_layer = ko[ko["layer"] != _ALL_LAYERS]
    everything = ko[ko["layer"] == _ALL_LAYERS]
    comps = component_order(per_layer["component"])
    layers = sorted(per_layer["layer"].unique())
    z = _grid(per_layer, col, comps) * scale                          # (components, layers)
    if has_ci:
        lo, hi = (_grid(per_layer, f"{col}_{b}", comps) * scale for b in ("lo", "hi"))
        grey = (lo <= 0) & (hi >= 0)                                   # interval contains 0
        if metric == "acc" and "distinguishable" in per_layer.columns:  # …or McNemar disagrees
            grey |= ~_grid(per_layer.assign(distinguishable=per_layer["distinguishable"].astype(float)),
                           "distinguishable", comps).astype(bool)
    else:
        lo = hi = np.full_like(z, np.nan)
        grey = np.zeros_like(z, dtype=bool)
    fmt = "{:+.2f}" if metric == "acc" else "{:+.3g}"
    text = np.vectorize(lambda v: "" if np.isnan(v) else fmt.format(v))(z)
    custom = np.stack([z, lo, hi], axis=-1)                            # (components, layers, 3)
    x, y = [str(c) for c in layers], comps
    hover = ("layer %{x}<br>%{y} off<br>" + unit + " = %{customdata[0]:.3g}"
             + (" [%{customdata[1]:.3g}, %{customdata[2]:.3g}]" if has_ci else "") + "<extra>%{fullData.name}</extra>")
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=np.where(grey, np.nan, z), x=x, y=y, name="distinguishable from 0", colorscale=DIVERGING,
        zmid=0, zmin=-zmax, zmax=zmax, text=np.where(grey, "", text), texttemplate="%{text}", customdata=custom,
        colorbar=dict(title=dict(text="Δ acc (pp)" if metric == "acc" else "Δ loss")), hovertemplate=hover))
    if grey.any():
        fig.add_trace(go.Heatmap(
            z=np.where(grey, 0.0, np.nan), x=x, y=y, name="not distinguishable from 0", showscale=False,
            colorscale=[[0, NOT_DISTINGUISHABLE], [1, NOT_DISTINGUISHABLE]], zmin=-1, zmax=1,
            text=np.where(grey, text, ""), texttemplate="%{text}", customdata=custom, hovertemplate=hover))
    notes = []
    if not everything.empty:
        e = everything.iloc[0]
        v = float(e[col]) * scale
        ci = (f" [{fmt.format(float(e[f'{col}_lo']) * scale)}, {fmt.format(float(e[f'{col}_hi']) * scale)}]"
              if has_ci else "")
        notes.append(f"all pathways off at once: {fmt.format(v)}{ci} {'pp' if metric == 'acc' else 'nats'}")
    n = ko["n"].iloc[0] if "n" in ko.columns else None
    note = sample_note(n, split, _LEVEL if has_ci else None)
    if note:
        notes.append(note + ("; grey: not distinguishable from 0" if grey.any() else ""))
    if notes:
        title = f"{title}<br><sup>{'<br>'.join(notes)}</sup>"
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")   # first component on top, as in a table
    fig = finish(fig, title, LAYER, "pathway switched off", height=max(340, 130 + 60 * len(comps)))
    fig.update_layout(margin=dict(t=110))
    return fig
