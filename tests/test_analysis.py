"""Analysis engine: statistics by hand, knockout and sweeps against the naive loop, logs, per class."""
import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import timm
import torch
import torch.nn.functional as F

from m2pt_core import (PathwayMismatchError, attach_pathways, create_model, get_lambdas, merge_all,
                       set_lambdas)
from m2pt_core.analysis import (ALL, ALL_LAYERS, IncrementalEvaluator, compare_per_class, evaluate_tensors,
                                global_scale_sweep, knockout_map, lambda_sweep, lambda_trajectories,
                                per_class_accuracy, per_class_delta, predict_topk, read_log, weight_stats,
                                weight_stats_pair)

from .conftest import tiny_input

COMPS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


def random_lambdas(model, seed=0, std=0.5):
    g = torch.Generator().manual_seed(seed)
    set_lambdas(model, {n: float(torch.randn((), generator=g)) * std for n in get_lambdas(model)})


@pytest.fixture
def pathway_model():
    """(model with pathways and random λ, its auxiliary model)."""
    torch.manual_seed(0)
    target, aux = create_model("test", "image", 5), create_model("test", "audio", 3)
    attach_pathways(target, aux)
    random_lambdas(target)
    return target, aux


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(3)
    return tiny_input("image", batch=37, seed=4), torch.randint(0, 5, (37,), generator=g)


def hand_eval(model, X, y):
    model.eval()
    with torch.no_grad():
        logits = model(X)
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


class TinySet:
    def __init__(self, X, y):
        self.X, self.y, self.classes = X, y, [f"c{i}" for i in range(5)]

    def tensors(self):
        return self.X, self.y


# ── statistics ────────────────────────────────────────────────────────────────────────────────

def test_weight_stats_match_hand_computation(pathway_model):
    model, aux = pathway_model
    stats = weight_stats(model)
    assert len(stats) == 2 * 4
    for row in stats.itertuples():
        W = model.get_submodule(row.name).weight.detach()
        Wp = aux.get_submodule(row.name).weight.detach()
        lam = model.get_submodule(row.name).lam.item()
        assert row.lam == pytest.approx(lam)
        assert row.norm_w == pytest.approx(torch.linalg.norm(W).item(), rel=1e-5)
        assert row.norm_aux == pytest.approx(torch.linalg.norm(Wp).item(), rel=1e-5)
        assert row.norm_lam_aux == pytest.approx(torch.linalg.norm(lam * Wp).item(), rel=1e-5)
        assert row.ratio == pytest.approx((torch.linalg.norm(lam * Wp) / torch.linalg.norm(W)).item(), rel=1e-5)
        cos = F.cosine_similarity(W.flatten(), Wp.flatten(), dim=0).item()
        assert row.cosine == pytest.approx(cos, abs=1e-6)


def test_weight_stats_see_the_bare_weight_while_merged(pathway_model):
    model, _ = pathway_model
    before = weight_stats(model)
    merge_all(model)
    pd.testing.assert_frame_equal(weight_stats(model), before, rtol=1e-5)


def test_weight_stats_pair_before_attaching(tiny_pair):
    target, aux = tiny_pair
    pair = weight_stats_pair(target, aux)
    assert pair["lam"].isna().all() and pair["ratio"].isna().all() and pair["norm_lam_aux"].isna().all()
    hypothetical = weight_stats_pair(target, aux, lam=0.1)
    attach_pathways(target, aux, lambda_init=0.1)
    pd.testing.assert_frame_equal(hypothetical, weight_stats(target), rtol=1e-5)
    wide = create_model("test", "audio", 3, embed_dim=48)
    with pytest.raises(PathwayMismatchError, match="shape mismatch"):
        weight_stats_pair(create_model("test", "image", 5), wide)


# ── evaluation ────────────────────────────────────────────────────────────────────────────────

def test_evaluate_tensors_matches_hand_and_accepts_datasets(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    acc, loss = hand_eval(model, X, y)
    for result in (evaluate_tensors(model, X, y, batch_size=8), evaluate_tensors(model, TinySet(X, y), batch_size=100)):
        assert result["acc"] == pytest.approx(acc) and result["loss"] == pytest.approx(loss, rel=1e-5)
        assert result["n"] == 37
    model.train()
    evaluate_tensors(model, X, y)
    assert model.training and all(m.training for m in model.modules())   # train mode restored
    with pytest.raises(TypeError, match="tensors"):
        evaluate_tensors(model, X)


# ── knockout ──────────────────────────────────────────────────────────────────────────────────

def test_knockout_equals_setting_lambda_to_zero_by_hand(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    before = get_lambdas(model)
    ko = knockout_map(model, X, y, batch_size=10)
    assert get_lambdas(model) == before
    assert len(ko) == 8 + 2 + 1
    base_acc, base_loss = hand_eval(model, X, y)
    for row in ko.itertuples():
        ref = copy.deepcopy(model)
        if row.layer == ALL_LAYERS:
            set_lambdas(ref, 0.0, pattern="*")
        elif row.component == ALL:
            set_lambdas(ref, 0.0, layers=[row.layer])
        else:
            set_lambdas(ref, {(row.layer, row.component): 0.0})
        acc, loss = hand_eval(ref, X, y)
        assert row.acc == pytest.approx(acc), row
        assert row.loss == pytest.approx(loss, rel=1e-5), row
        assert row.delta_acc == pytest.approx(acc - base_acc)
        assert row.delta_loss == pytest.approx(loss - base_loss, abs=1e-5)
    # A real change: switching every pathway off moves the loss (λ are far from 0 here).
    assert abs(ko[ko.layer == ALL_LAYERS].delta_loss.item()) > 1e-4


def test_knockout_and_sweep_carry_paired_intervals_against_the_model_as_it_is(pathway_model, data):
    from m2pt_core.analysis import PAIRED_COLUMNS, paired_comparison
    model, _ = pathway_model
    X, y = data
    ko = knockout_map(model, X, y, batch_size=10)
    assert set(PAIRED_COLUMNS) <= set(ko.columns) and (ko["n"] == 37).all()
    assert ((ko.delta_acc_lo <= ko.delta_acc + 1e-12) & (ko.delta_acc <= ko.delta_acc_hi + 1e-12)).all()
    assert ((ko.delta_loss_lo <= ko.delta_loss + 1e-6) & (ko.delta_loss <= ko.delta_loss_hi + 1e-6)).all()
    # The all-off cell against a by-hand per-item evaluation of both models.
    off = copy.deepcopy(model)
    set_lambdas(off, 0.0, pattern="*")

    def items(m):
        with torch.no_grad():
            logits = m.eval()(X)
        return (logits.argmax(1) == y).numpy(), F.cross_entropy(logits, y, reduction="none").numpy()

    (c0, l0), (c1, l1) = items(model), items(off)
    ref = paired_comparison(c0, c1, l0, l1)
    row = ko[ko.layer == ALL_LAYERS].iloc[0]
    assert row.p_mcnemar == pytest.approx(ref.p_mcnemar)
    assert (row.delta_acc_lo, row.delta_acc_hi) == pytest.approx((ref.delta_acc.lo, ref.delta_acc.hi), abs=1e-9)
    assert (row.delta_loss_lo, row.delta_loss_hi) == pytest.approx((ref.delta_loss.lo, ref.delta_loss.hi), abs=1e-4)
    assert row.distinguishable == ref.distinguishable
    # The unperturbed point of a scale sweep is the model itself: Δ = 0 with an interval that contains it.
    sw = lambda_sweep(model, X, y, grid=[0.0, 1.0], mode="scale")
    one = sw[sw.value == 1.0]
    assert (one.delta_acc_lo == 0).all() and (one.delta_acc_hi == 0).all() and (one.p_mcnemar == 1).all()
    assert not one.distinguishable.any()
    scales = global_scale_sweep(model, X, y, scales=[0.0, 1.0])
    assert scales.loc[scales.scale == 0.0, "p_mcnemar"].item() == pytest.approx(ref.p_mcnemar)


def test_unchanged_points_give_delta_exactly_zero(pathway_model, data):
    """Base and probes run through the same code path (cls-only last block included), so a probe
    that changes nothing gives Δ == 0 exactly, not a float-rounding artefact of two paths. A W' of
    zeros makes the knockout a no-op the engine cannot see coming: it runs it."""
    model, _ = pathway_model
    X, y = data
    last = len(model.blocks) - 1
    with torch.no_grad():
        model.blocks[last].mlp.fc1.aux_weight.zero_()     # λ ≠ 0, but λ·W' = 0
        model.blocks[0].attn.proj.lam.zero_()             # already knocked out
    ko = knockout_map(model, X, y, batch_size=10).set_index(["layer", "component"])
    for key in [(last, "mlp.fc1"), (0, "attn.proj")]:
        assert ko.loc[key, "delta_loss"] == 0.0 and ko.loc[key, "delta_acc"] == 0.0, key
    learned = model.blocks[last].attn.qkv.lam_value
    sw = lambda_sweep(model, X, y, grid=[learned], layers=[last], components=["attn.qkv"], mode="absolute")
    assert (sw.loss == sw.base_loss).all()
    sc = lambda_sweep(model, X, y, grid=[1.0], mode="scale")
    assert (sc.loss == sc.base_loss).all() and (sc.acc == sc.base_acc).all()


# ── sweeps ────────────────────────────────────────────────────────────────────────────────────

def naive_sweep(model, X, y, grid, components, mode):
    rows = []
    for layer in range(len(model.blocks)):
        for comp in components:
            for v in grid:
                ref = copy.deepcopy(model)
                names = [n for n in get_lambdas(ref) if n.startswith(f"blocks.{layer}.") and (comp == ALL or n.endswith(comp))]
                lams = get_lambdas(ref)
                set_lambdas(ref, {n: v if mode == "absolute" else lams[n] * v for n in names})
                acc, loss = hand_eval(ref, X, y)
                rows.append({"layer": layer, "component": comp, "value": v, "acc": acc, "loss": loss})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("mode,grid", [("absolute", [-0.5, 0.0, 1.0]), ("scale", [0.0, 1.0, 2.5])])
def test_cached_sweep_equals_naive_loop(pathway_model, data, mode, grid):
    model, _ = pathway_model
    X, y = data
    before = get_lambdas(model)
    comps = [ALL, "mlp.fc1"]
    fast = lambda_sweep(model, X, y, grid=grid, components=comps, mode=mode, batch_size=9)
    assert get_lambdas(model) == before
    slow = naive_sweep(model, X, y, grid, comps, mode)
    merged = fast.merge(slow, on=["layer", "component", "value"], suffixes=("", "_naive"))
    assert len(merged) == len(slow) == 2 * len(comps) * len(grid)
    np.testing.assert_allclose(merged["acc"], merged["acc_naive"])
    np.testing.assert_allclose(merged["loss"], merged["loss_naive"], rtol=1e-5)
    assert merged["loss"].nunique() > len(grid)     # the grid really changes the model
    if mode == "scale":   # scale 1 is the trained model
        one = merged[merged.value == 1.0]
        np.testing.assert_allclose(one["loss"], one["base_loss"], rtol=1e-6)


def test_sweep_learned_lambda_column_and_selection(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    df = lambda_sweep(model, X, y, grid=[0.0], layers=[1], components="mlp.fc2")
    assert df[["layer", "component"]].drop_duplicates().values.tolist() == [[1, "mlp.fc2"]]
    assert df["lam_learned"].item() == pytest.approx(model.blocks[1].mlp.fc2.lam.item())
    whole = lambda_sweep(model, X, y, grid=[0.0], layers=[0])
    assert whole["lam_learned"].item() == pytest.approx(np.mean([model.get_submodule(f"blocks.0.{c}").lam.item() for c in COMPS]))
    with pytest.raises(ValueError, match="component"):
        lambda_sweep(model, X, y, grid=[0.0], components="mlp.fc3")
    with pytest.raises(ValueError, match="no pathway"):
        lambda_sweep(model, X, y, grid=[0.0], layers=[5])
    with pytest.raises(ValueError, match="mode"):
        lambda_sweep(model, X, y, grid=[0.0], mode="relative")


def test_global_scale_sweep(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    before = get_lambdas(model)
    df = global_scale_sweep(model, X, y, scales=[0.0, 1.0, 2.0], batch_size=16)
    assert get_lambdas(model) == before
    ref = copy.deepcopy(model)
    set_lambdas(ref, 0.0, pattern="*")
    assert df.loc[df.scale == 0.0, "loss"].item() == pytest.approx(hand_eval(ref, X, y)[1], rel=1e-5)
    assert df.loc[df.scale == 1.0, "loss"].item() == pytest.approx(hand_eval(model, X, y)[1], rel=1e-5)
    ref = copy.deepcopy(model)
    set_lambdas(ref, {n: 2 * v for n, v in before.items()})
    assert df.loc[df.scale == 2.0, "loss"].item() == pytest.approx(hand_eval(ref, X, y)[1], rel=1e-5)


def test_lambdas_restored_when_a_sweep_fails(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    before = get_lambdas(model)

    def fail_at_zero(module, inputs):   # raises inside a probe, while λ are overridden
        if model.blocks[0].mlp.fc1.lam.item() == 0.0:
            raise RuntimeError("boom")

    model.blocks[0].register_forward_pre_hook(fail_at_zero)
    with pytest.raises(RuntimeError, match="boom"):
        lambda_sweep(model, X, y, grid=[0.5, 0.0])
    assert get_lambdas(model) == before


def test_sweep_and_knockout_on_a_timm_vit():
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(img_size=16, patch_size=8, in_chans=1, embed_dim=32,
                                                           depth=2, num_heads=2, mlp_ratio=2.0, num_classes=3)
    attach_pathways(vit, create_model("test", "audio", 3))
    random_lambdas(vit, seed=2)
    X, y = torch.randn(11, 1, 16, 16), torch.randint(0, 3, (11,))
    fast = lambda_sweep(vit, X, y, grid=[0.0, 0.7], batch_size=4)
    slow = naive_sweep(vit, X, y, [0.0, 0.7], [ALL], "absolute")
    np.testing.assert_allclose(fast["loss"], slow["loss"], rtol=1e-5)
    assert len(knockout_map(vit, X, y)) == 11


def test_incremental_evaluator_recomputes_from_changed_layer(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    ev = IncrementalEvaluator(model, X, y, batch_size=10)
    assert ev.evaluate()["recomputed_from"] == 2           # nothing changed: no block reruns
    set_lambdas(model, {"blocks.1.mlp.fc1": 0.9})
    r = ev.evaluate()
    assert r["recomputed_from"] == 1
    assert r["loss"] == pytest.approx(hand_eval(model, X, y)[1], rel=1e-5)
    set_lambdas(model, {"blocks.0.attn.qkv": -0.4})
    r = ev.evaluate()
    assert r["recomputed_from"] == 0 and r["loss"] == pytest.approx(hand_eval(model, X, y)[1], rel=1e-5)
    assert ev.logits.shape == (37, 5)


# ── logs ──────────────────────────────────────────────────────────────────────────────────────

def test_log_tables(tmp_path):
    lams = lambda e: {"blocks.0.attn.qkv": 0.01 * e, "blocks.1.mlp.fc2": -0.02 * e}
    lines = [{"event": "start", "config": {"lr": 1}}]
    lines += [{"epoch": e, "train_loss": 2.0 / e, "val_acc": 0.5 + 0.1 * e, "val_loss": None, "lambdas": lams(e)}
              for e in (1, 2, 3)]
    lines.append({"epoch": 3, "train_loss": 0.5, "val_acc": 0.9, "val_loss": 0.4, "lambdas": lams(30)})  # resumed
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"epoch": 4, "train_lo')
    log = read_log(path)
    assert log["epoch"].tolist() == [1, 2, 3] and "lambdas" not in log
    assert log.loc[log.epoch == 3, "train_loss"].item() == 0.5
    traj = lambda_trajectories(path)
    assert list(traj.columns) == ["epoch", "name", "layer", "component", "lam"]
    assert len(traj) == 6
    row = traj[(traj.epoch == 2) & (traj.name == "blocks.1.mlp.fc2")]
    assert row.layer.item() == 1 and row.component.item() == "mlp.fc2" and row.lam.item() == pytest.approx(-0.04)
    assert traj[traj.epoch == 3].lam.abs().max() == pytest.approx(0.6)     # the later record won
    assert lambda_trajectories(lines[1:3]).shape == (4, 5)                     # records work too
    assert lambda_trajectories([{"epoch": 1, "lambdas": {}}]).empty          # a baseline run


# ── per class and top-k ───────────────────────────────────────────────────────────────────────

def test_per_class_accuracy_by_hand(pathway_model, data):
    model, _ = pathway_model
    X, y = data
    with torch.no_grad():
        pred = model.eval()(X).argmax(1)
    table = per_class_accuracy(model, TinySet(X, y))
    assert table["class"].tolist() == [f"c{i}" for i in range(5)]
    for row in table.itertuples():
        mask = y == row.class_index
        assert row.n == int(mask.sum())
        assert row.correct == int((pred[mask] == row.class_index).sum())
        assert row.acc == pytest.approx(row.correct / row.n) if row.n else math.isnan(row.acc)
    other = copy.deepcopy(model)
    set_lambdas(other, 0.0, pattern="*")
    both = compare_per_class(model, other, X, y)
    assert both["model"].unique().tolist() == ["baseline", "M2PT"] and len(both) == 10
    wide = per_class_delta(both)
    np.testing.assert_allclose(wide["delta"], wide["M2PT"] - wide["baseline"])


def test_predict_topk(pathway_model, data):
    model, _ = pathway_model
    X, _ = data
    top = predict_topk(model, X[0], k=3, class_names=list("abcde"))
    with torch.no_grad():
        probs = model.eval()(X[:1]).softmax(-1)[0]
    assert top["rank"].tolist() == [1, 2, 3]
    assert top["prob"].tolist() == pytest.approx(probs.sort(descending=True).values[:3].tolist(), rel=1e-5)
    assert top["class"].tolist() == [list("abcde")[i] for i in probs.argsort(descending=True)[:3].tolist()]
    pd.testing.assert_frame_equal(top, predict_topk(model, X[:1], k=3, class_names=list("abcde")))
    with pytest.raises(ValueError, match="one sample"):
        predict_topk(model, X[:2])


@pytest.mark.parametrize("pool", ["token", "avg"])
def test_cls_tail_matches_the_full_last_block(pathway_model, pool):
    from m2pt_core.analysis import model_stages
    model, _ = pathway_model
    model.eval()
    stages = model_stages(model)
    assert stages.tail is not None                     # plain timm blocks + cls head: shortcut on
    h = torch.randn(5, 17, 32)
    with torch.no_grad():
        torch.testing.assert_close(stages.tail(h), model.blocks[-1](h)[:, :1], rtol=1e-5, atol=1e-6)
    if pool == "avg":
        other = create_model("test", "image", 5, global_pool="avg")
        assert model_stages(other).tail is None         # the head reads every token: no shortcut
