"""Sweep figures: accuracy (or loss) as λ of one layer moves, and as all λ are scaled together.

Each point carries its paired interval against the model as it is (error bars, when the table has
the interval columns of lambda_sweep); points whose interval contains 0 are drawn hollow. The y
axis spans at least ±5 points (±0.1 nats) around the reference, so one or two items do not fill it."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis.intervals import LEVEL
from ._style import ACC, LOSS, color, empty, finish, require, sample_note

_X_LABEL = {"absolute": "λ (dimensionless)", "scale": "λ as a multiple of the λ in force (×)"}
_MIN_HALF_SPAN = {"acc": 5.0, "loss": 0.1}    # y axis: at least this either side of the reference


def _metric(metric: str) -> tuple[str, float, str]:
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}.")
    return (metric, 100.0, ACC) if metric == "acc" else (metric, 1.0, LOSS)


def _errors(g: pd.DataFrame, metric: str, scale: float) -> Optional[dict]:
    """Asymmetric error bars of each point from its paired Δ interval, or None without one."""
    lo, hi = f"delta_{metric}_lo", f"delta_{metric}_hi"
    if not {lo, hi} <= set(g.columns):
        return None
    delta = (g[metric] - g[f"base_{metric}"]) * scale
    return dict(type="data", symmetric=False, array=(g[hi] * scale - delta).clip(lower=0).tolist(),
                arrayminus=(delta - g[lo] * scale).clip(lower=0).tolist(), thickness=1, width=3)


def _hollow(g: pd.DataFrame, metric: str) -> list[bool]:
    lo, hi = f"delta_{metric}_lo", f"delta_{metric}_hi"
    if not {lo, hi} <= set(g.columns):
        return [False] * len(g)
    hollow = (g[lo] <= 0) & (g[hi] >= 0)
    if metric == "acc" and "distinguishable" in g.columns:   # McNemar must agree too
        hollow |= ~g["distinguishable"].astype(bool)
    return hollow.tolist()


def _y_range(values: list[float], ref: float, metric: str) -> list[float]:
    v = np.asarray([x for x in values if x == x], dtype=float)
    half = max(_MIN_HALF_SPAN[metric], float(np.abs(v - ref).max()) * 1.08 if len(v) else 0.0)
    lo, hi = ref - half, ref + half
    return [max(lo, 0.0), min(hi, 100.0)] if metric == "acc" else [max(lo, 0.0), hi]


def _note(d: pd.DataFrame, split: Optional[str], has_ci: bool) -> str:
    note = sample_note(d["n"].iloc[0] if "n" in d.columns else None, split, LEVEL if has_ci else None)
    return note + ("; hollow: not distinguishable from 0" if has_ci else "")


def _partial_note(layers: list, all_layers: Optional[Sequence[int]], stopped: bool) -> str:
    """'; stopped after 2 of 4 layers: layers 2, 3 not swept' ('' when complete)."""
    done = {int(x) for x in layers}
    missing = [int(i) for i in (all_layers or []) if int(i) not in done]
    if not missing:
        return ""
    state = "stopped" if stopped else "sweeping"
    return (f"; {state} after {len(done)} of {len(done) + len(missing)} layers: layer{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(str, missing))} not swept")


def sweep_curves(sweep: pd.DataFrame, component: str | None = None, metric: str = "acc",
                 title: str | None = None, learned: Optional[Mapping[int, float]] = None,
                 learned_score: Optional[float] = None, split: Optional[str] = None,
                 all_layers: Optional[Sequence[int]] = None, stopped: bool = False) -> go.Figure:
    """One line per layer: accuracy (%) or loss against the swept value, with error bars from
    each point's paired interval against the model as it is.

    Markers: "learned λ" at each layer's trained λ and the score as trained, with a dashed "as
    trained" line. When λ were edited since training, pass ``learned`` ({layer: learned λ}, the
    layer mean for "all") and ``learned_score`` (the metric as trained, a fraction for accuracy):
    the learned markers and line stay there, and "current λ" markers show the λ in force (the
    sweep's ``lam_learned`` column, i.e. λ before the sweep) at the score now.

    sweep: lambda_sweep(...). component: which swept component to show ("all" when present,
    else the first one in the table). split: named in the title with n. all_layers: the
    layers the sweep covers when complete; those not in the table are named as not swept (yet,
    or ``stopped``)."""
    require(sweep, ["layer", "component", "mode", "value", "lam_learned", metric, f"base_{metric}"], "sweep_curves")
    col, scale, ylabel = _metric(metric)
    if sweep.empty:
        return empty(title or "λ sweep", "no sweep results")
    comps = list(dict.fromkeys(sweep["component"]))
    component = component or ("all" if "all" in comps else comps[0])
    if component not in comps:
        raise ValueError(f"component {component!r} was not swept; the table has {comps}.")
    d = sweep[sweep["component"] == component]
    mode = str(d["mode"].iloc[0])
    what = "whole layer" if component == "all" else component
    title = title or f"λ sweep per layer ({what}, {mode} grid)"
    fig = go.Figure()
    layers = sorted(d["layer"].unique())
    ys = _layer_lines(fig, d, col, scale, layers)
    base = float(d[f"base_{metric}"].iloc[0]) * scale
    trained = _learned_markers(fig, d, mode, base, learned,
                               None if learned_score is None else float(learned_score) * scale)
    has_ci = _errors(d, col, scale) is not None
    title = f"{title}<br><sup>{_note(d, split, has_ci)}{_partial_note(layers, all_layers, stopped)}</sup>"
    fig = finish(fig, title, _X_LABEL.get(mode, "value"), ylabel)
    fig.update_yaxes(range=_y_range(ys + [trained], base, metric))
    fig.update_layout(margin=dict(t=90))
    return fig


def _layer_lines(fig: go.Figure, d: pd.DataFrame, col: str, scale: float, layers: list) -> list[float]:
    """One line per layer with its paired error bars (hollow: not distinguishable); returns every
    y drawn (points and bar ends), for the axis range."""
    ys: list[float] = []
    for layer in layers:
        g = d[d["layer"] == layer].sort_values("value")
        err = _errors(g, col, scale)
        hollow = _hollow(g, col)
        ys += (g[col] * scale).tolist()
        if err is not None:
            ys += (g[col] * scale + np.asarray(err["array"])).tolist() + (g[col] * scale - np.asarray(err["arrayminus"])).tolist()
        c = color(int(layer))
        fig.add_trace(go.Scatter(x=g["value"], y=g[col] * scale, name=f"layer {layer}", mode="lines+markers",
                                 line=dict(color=c), error_y=err,
                                 marker=dict(size=7, color=["white" if h else c for h in hollow],
                                             line=dict(width=1.5, color=c))))
    return ys


def _learned_markers(fig: go.Figure, d: pd.DataFrame, mode: str, base: float,
                     learned: Optional[Mapping[int, float]], learned_score: Optional[float]) -> float:
    """The "learned λ" markers and "as trained" line, and, when λ were edited since training, the
    "current λ" markers and "λ as set now" line; returns the score as trained (the y of the line)."""
    now = d.groupby("layer", sort=True).first()                      # λ in force before the sweep
    current_x = [1.0] * len(now) if mode == "scale" else now["lam_learned"].tolist()
    edited = learned is not None and any(
        abs(float(learned.get(int(i), v)) - float(v)) > 1e-9 for i, v in now["lam_learned"].items())
    learned_x, trained = current_x, base
    if edited:
        learned_x = []
        for i, v in now["lam_learned"].items():
            lv = float(learned.get(int(i), v))
            learned_x.append(lv if mode == "absolute" else (lv / v if v else np.nan))
        trained = base if learned_score is None else learned_score
    colors, text = [color(int(i)) for i in now.index], [f"layer {i}" for i in now.index]
    fig.add_trace(go.Scatter(x=learned_x, y=[trained] * len(now), name="learned λ", mode="markers",
                             marker=dict(size=11, symbol="diamond", color=colors, line=dict(width=1, color="black")),
                             text=text, hovertemplate="%{text}: learned λ %{x:.4g}<extra></extra>"))
    fig.add_hline(y=trained, line_dash="dash", line_color="gray", annotation_text="as trained",
                  annotation_position="bottom left" if edited else "bottom right")
    if edited:
        fig.add_trace(go.Scatter(x=current_x, y=[base] * len(now), name="current λ", mode="markers",
                                 marker=dict(size=10, symbol="x", color=colors, line=dict(width=1, color="black")),
                                 text=text, hovertemplate="%{text}: λ now %{x:.4g}<extra></extra>"))
        fig.add_hline(y=base, line_dash="dot", line_color="black", annotation_text="λ as set now",
                      annotation_position="top right")
    return trained


def global_scale_curve(df: pd.DataFrame, metric: str = "acc", title: str = "All λ scaled together",
                       split: Optional[str] = None) -> go.Figure:
    """Accuracy (%) or loss against the global λ scale (0 = no pathways, 1 = as trained), with
    paired error bars against scale 1 and a marker at 1. df: global_scale_sweep(...)."""
    require(df, ["scale", metric, f"base_{metric}"], "global_scale_curve")
    col, scale, ylabel = _metric(metric)
    if df.empty:
        return empty(title, "no sweep results")
    d = df.sort_values("scale")
    err = _errors(d, col, scale)
    hollow = _hollow(d, col)
    c = color(0)
    fig = go.Figure(go.Scatter(x=d["scale"], y=d[col] * scale, name="all λ × scale", mode="lines+markers",
                               line=dict(color=c), error_y=err,
                               marker=dict(size=7, color=["white" if h else c for h in hollow],
                                           line=dict(width=1.5, color=c))))
    base = float(d[f"base_{metric}"].iloc[0]) * scale
    fig.add_trace(go.Scatter(x=[1.0], y=[base], name="as trained",
                             mode="markers", marker=dict(size=12, symbol="diamond", color="black")))
    ys = (d[col] * scale).tolist()
    if err is not None:
        ys += (d[col] * scale + np.asarray(err["array"])).tolist() + (d[col] * scale - np.asarray(err["arrayminus"])).tolist()
    fig = finish(fig, f"{title}<br><sup>{_note(d, split, err is not None)}</sup>", "scale applied to every λ (×)", ylabel)
    fig.update_yaxes(range=_y_range(ys, base, metric))
    fig.update_layout(margin=dict(t=90))
    return fig
