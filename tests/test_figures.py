"""Every figure builder returns a plotly figure with the expected traces, titles and axis units."""
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from m2pt_core import attach_pathways, create_model, get_lambdas, lambda_table, set_lambdas
from m2pt_core.analysis import (compare_per_class, compare_topk, global_scale_sweep, knockout_map,
                                lambda_sweep, lambda_trajectories, predict_topk, read_log, weight_stats,
                                weight_stats_pair)
from m2pt_core.figures import (cosine_by_layer, global_scale_curve, knockout_heatmap, lambda_heatmap,
                               lambda_trajectory_plot, per_class_bars, prediction_bars, sweep_curves,
                               training_curves, weight_norm_bars)

COMPS = ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"]


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model, aux = create_model("test", "image", 4), create_model("test", "audio", 3)
    attach_pathways(model, aux)
    g = torch.Generator().manual_seed(1)
    set_lambdas(model, {n: float(torch.randn((), generator=g)) * 0.3 for n in get_lambdas(model)})
    X, y = torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 4, (16,), generator=g)
    return model, aux, X, y


def names(fig):
    return [t.name for t in fig.data]


def check_common(fig):
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text and fig.layout.template.layout.paper_bgcolor == "white"
    assert fig.layout.height >= 250


def test_lambda_heatmap(setup):
    model, *_ = setup
    fig = lambda_heatmap(lambda_table(model))
    check_common(fig)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    assert list(fig.data[0].y) == COMPS and list(fig.data[0].x) == ["0", "1"]
    assert fig.data[0].zmid == 0
    assert fig.data[0].z[0][1] == pytest.approx(model.blocks[1].attn.qkv.lam.item())
    assert "layer" in fig.layout.xaxis.title.text


def test_knockout_heatmap(setup):
    model, _, X, y = setup
    ko = knockout_map(model, X, y)
    fig = knockout_heatmap(ko, split="validation")
    check_common(fig)
    assert fig.data[0].zmid == 0 and (fig.data[0].zmin, fig.data[0].zmax) == (-10, 10)   # fixed, symmetric
    assert list(fig.data[0].y) == COMPS + ["all"]
    row = ko[(ko.layer == 0) & (ko.component == "mlp.fc2")]
    assert fig.data[0].customdata[3][0][0] == pytest.approx(100 * row.delta_acc.item())
    assert "all pathways off at once" in fig.layout.title.text
    assert "n = 16 items of the validation split" in fig.layout.title.text
    loss = knockout_heatmap(ko, metric="loss")
    assert (loss.data[0].zmin, loss.data[0].zmax) == (-0.2, 0.2)


def _knockout_rows(ref, cells):
    """A knockout table from per-item corrects: ref (N,), cells {(layer, component): (N,)}."""
    from m2pt_core.analysis import paired_columns
    keys = list(cells)
    c = np.stack([cells[k] for k in keys])
    cols = paired_columns(ref, np.zeros_like(ref), c, np.zeros_like(c))
    rows = pd.DataFrame([{"layer": i, "component": comp, "acc": cells[(i, comp)].mean(),
                          "delta_acc": cells[(i, comp)].mean() - ref.mean(), "loss": 0.0, "delta_loss": 0.0,
                          "base_acc": ref.mean(), "base_loss": 0.0} for i, comp in keys])
    return rows.assign(**cols)


def test_knockout_heatmap_greys_out_a_one_item_difference_in_thirty():
    ref = np.r_[np.ones(20), np.zeros(10)]                 # 30 items, 20 right
    one = ref.copy()
    one[20] = 1.0                                          # one more item right: +3.3 points
    ten = ref.copy()
    ten[:10] = 0.0                                         # ten fewer: −33 points
    ko = _knockout_rows(ref, {(0, "mlp.fc1"): one, (0, "mlp.fc2"): ten, (1, "mlp.fc1"): ref, (1, "mlp.fc2"): ref})
    fig = knockout_heatmap(ko, split="validation")
    coloured, grey = fig.data
    assert grey.name == "not distinguishable from 0"
    # rows fc1, fc2; columns layer 0, 1
    assert coloured.z[0][0] is None or np.isnan(coloured.z[0][0])      # the 1-item cell is not coloured…
    assert grey.z[0][0] == 0.0                                          # …but grey
    assert coloured.z[1][0] == pytest.approx(-100 / 3) and np.isnan(grey.z[1][0])
    assert "n = 30 items of the validation split" in fig.layout.title.text
    assert "grey: not distinguishable from 0" in fig.layout.title.text
    # A repaint with other data keeps what a colour means.
    assert (coloured.zmin, coloured.zmax) == (-10, 10)


def test_sweep_curves_and_global_scale(setup):
    model, _, X, y = setup
    sweep = lambda_sweep(model, X, y, grid=[-0.2, 0.0, 0.2], components=["all", "mlp.fc1"])
    fig = sweep_curves(sweep, split="validation")
    check_common(fig)
    assert names(fig) == ["layer 0", "layer 1", "learned λ"]
    assert fig.data[0].error_y.array is not None and "n = 16 items of the validation split" in fig.layout.title.text
    lo, hi = fig.layout.yaxis.range
    assert hi - lo >= 9.99 or lo == 0 or hi == 100            # never zoomed below ±5 points
    assert list(fig.data[2].x) == pytest.approx(sweep[sweep.component == "all"].groupby("layer").lam_learned.first().tolist())
    assert fig.layout.yaxis.title.text == "accuracy (%)" and "λ" in fig.layout.xaxis.title.text
    fc1 = sweep_curves(sweep, component="mlp.fc1", metric="loss")
    assert fc1.data[2].x == (model.blocks[0].mlp.fc1.lam.item(), model.blocks[1].mlp.fc1.lam.item())
    scaled = sweep_curves(lambda_sweep(model, X, y, grid=[0.0, 1.0], mode="scale"))
    assert list(scaled.data[-1].x) == [1.0, 1.0] and "multiple" in scaled.layout.xaxis.title.text
    with pytest.raises(ValueError, match="not swept"):
        sweep_curves(sweep, component="attn.proj")
    g = global_scale_curve(global_scale_sweep(model, X, y, scales=[0.0, 0.5, 1.0]))
    check_common(g)
    assert names(g) == ["all λ × scale", "as trained"] and len(g.data[0].x) == 3


def test_weight_figures(setup):
    model, aux, *_ = setup
    stats = weight_stats(model)
    fig = weight_norm_bars(stats)
    check_common(fig)
    assert names(fig) == ["‖W‖ (target)", "‖W'‖ (auxiliary)", "‖λW'‖ (pathway)"] + [f"ratio {c}" for c in COMPS]
    # Layer labels under both rows; the legend below the plot, which keeps the whole width.
    assert fig.layout.xaxis.showticklabels and fig.layout.xaxis.type == fig.layout.xaxis2.type == "category"
    assert fig.layout.legend.orientation == "h"
    layer0 = stats[stats.layer == 0]
    assert fig.data[0].y[0] == pytest.approx(math.sqrt((layer0.norm_w ** 2).sum()))
    one = weight_norm_bars(stats, component="mlp.fc1")
    assert len(one.data) == 4 and one.data[1].y[1] == pytest.approx(stats.norm_aux[(stats.layer == 1) & (stats.component == "mlp.fc1")].item())
    before = weight_norm_bars(weight_stats_pair(create_model("test", "image", 4), aux))
    assert len(before.data) == 7 and all(pd.isna(v) for v in before.data[2].y)   # no λ yet
    cos = cosine_by_layer(stats)
    check_common(cos)
    assert names(cos) == COMPS and "cosine" in cos.layout.yaxis.title.text


def test_lambda_trajectory_plot():
    records = [{"epoch": e, "lambdas": {f"blocks.{i}.{c}": 0.01 * e * (i + 1) for i in range(2) for c in COMPS}}
               for e in (1, 2, 3)]
    traj = lambda_trajectories(records)
    fig = lambda_trajectory_plot(traj)
    check_common(fig)
    assert len(fig.data) == 8 and names(fig)[:2] == ["layer 0", "layer 1"]
    assert sum(t.showlegend for t in fig.data) == 2            # one legend entry per layer
    flat = lambda_trajectory_plot(traj, facet=False)
    assert len(flat.data) == 8 and "blocks.1.mlp.fc2" in names(flat)
    empty = lambda_trajectory_plot(lambda_trajectories([{"epoch": 1, "lambdas": {}}]))
    assert len(empty.data) == 0 and "baseline" in empty.layout.annotations[0].text


def test_training_curves():
    base = read_log([{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_acc": 0.5 + 0.1 * e} for e in (1, 2)])
    m2pt = read_log([{"epoch": e, "train_loss": 0.9 / e, "val_loss": None, "val_acc": 0.6 + 0.1 * e} for e in (1, 2)])
    fig = training_curves({"baseline": base, "M2PT": m2pt})
    check_common(fig)
    assert names(fig) == ["baseline val acc", "baseline train loss", "baseline val loss", "M2PT val acc", "M2PT train loss"]
    assert list(fig.data[0].y) == pytest.approx([60.0, 70.0])
    assert fig.layout.yaxis.title.text == "accuracy (%)"
    long = pd.concat([base.assign(run="baseline"), m2pt.assign(run="M2PT")])
    assert names(training_curves(long)) == names(fig)


def test_prediction_figures(setup):
    model, _, X, y = setup
    other = create_model("test", "image", 4)
    table = compare_per_class(other, model, X, y, class_names=list("abcd"))
    fig = per_class_bars(table)
    check_common(fig)
    assert names(fig) == ["baseline", "M2PT"] and list(fig.data[0].x) == list("abcd")
    assert list(fig.data[1].y) == pytest.approx((100 * table[table.model == "M2PT"].acc).tolist())
    top = compare_topk({"baseline": other, "M2PT": model}, X[0], k=3)
    bars = prediction_bars(top)
    check_common(bars)
    assert names(bars) == ["baseline", "M2PT"] and len(bars.data[0].y) == 3
    assert bars.data[1].x[-1] == pytest.approx(100 * top[top.model == "M2PT"].prob.max())   # best on top
    assert names(prediction_bars({"only": predict_topk(model, X[1], k=2)})) == ["only"]


def test_figures_reject_wrong_tables():
    with pytest.raises(ValueError, match="missing"):
        lambda_heatmap(pd.DataFrame({"layer": [0]}))
    with pytest.raises(TypeError):
        knockout_heatmap([1, 2])


def test_sweep_marker_stays_on_the_learned_lambda_after_an_edit(setup):
    model, _, X, y = setup
    before = get_lambdas(model)
    learned = {i: float(np.mean([before[f"blocks.{i}.{c}"] for c in COMPS])) for i in (0, 1)}
    learned_acc = float((model.eval()(X).argmax(1) == y).float().mean())
    try:
        set_lambdas(model, 0.7, layers=[0])                          # a user edit of layer 0
        sweep = lambda_sweep(model, X, y, grid=[-0.2, 0.0, 0.2])
        fig = sweep_curves(sweep, learned=learned, learned_score=learned_acc)
    finally:
        set_lambdas(model, before)
    marks = {t.name: t for t in fig.data}
    assert list(marks["learned λ"].x) == pytest.approx([learned[0], learned[1]])
    assert list(marks["learned λ"].y) == pytest.approx([100 * learned_acc] * 2)
    assert list(marks["current λ"].x) == pytest.approx([0.7, learned[1]])
    assert {"as trained", "λ as set now"} <= {a.text for a in fig.layout.annotations}
    # Without an edit: one set of markers, at λ as it is.
    plain = sweep_curves(lambda_sweep(model, X, y, grid=[0.0]), learned=learned, learned_score=learned_acc)
    assert "current λ" not in names(plain)
