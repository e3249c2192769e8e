"""The controls of the instrument: an independent random control, a positive control kept apart
from the target's evaluation items, the target-data fraction, and the stated power."""
from __future__ import annotations

import itertools

import pytest
import torch

from m2pt_core import create_model
from m2pt_core.pathways import load_aux
from m2pt_core.pathways.random_aux import random_aux_like


def _blocks(aux) -> dict[str, torch.Tensor]:
    """Every random W' block flattened: each component of each layer, qkv also as its q / k / v rows."""
    out = {}
    for (i, comp), w in aux.weights.items():
        out[f"{i}.{comp}"] = w.flatten()
        if comp.endswith("qkv"):
            for name, part in zip("qkv", w.chunk(3, dim=0)):                 # (D, D) each
                out[f"{i}.{comp}.{name}"] = part.flatten()
    return out


@pytest.mark.parametrize("size", ["demo", "small6"])
def test_random_control_blocks_are_independent_and_keep_norms(size):
    torch.manual_seed(0)
    aux = load_aux(create_model(size, "audio", 5))
    rnd = random_aux_like(aux, seed=3)
    for key, w in aux.weights.items():
        assert torch.allclose(rnd.weights[key].norm(), w.float().norm(), rtol=1e-5)
    blocks = _blocks(rnd)
    worst = 0.0
    for (a, x), (b, y) in itertools.combinations(blocks.items(), 2):
        if b.startswith(a) or a.startswith(b):
            continue                                                         # qkv and its own rows
        n = min(len(x), len(y))                                              # a shared stream shows in the prefix
        cos = float(torch.nn.functional.cosine_similarity(x[:n], y[:n], dim=0).abs())
        worst = max(worst, cos)
        assert cos < 0.05, f"{a} and {b}: |cosine| {cos:.3f}"
    assert worst > 0.0
    other_seed = random_aux_like(aux, seed=4)
    for key in rnd.weights:
        x, y = rnd.weights[key].flatten(), other_seed.weights[key].flatten()
        assert float(torch.nn.functional.cosine_similarity(x, y, dim=0).abs()) < 0.05


def test_nan_or_infinite_bounds_are_never_distinguishable():
    import math
    from m2pt_core.analysis.intervals import Interval
    assert not Interval(0.1, math.nan, math.nan, 0.95, 1).distinguishable
    assert not Interval(0.1, 0.05, math.inf, 0.95, 1).distinguishable
    assert Interval(0.1, 0.05, 0.15, 0.95, 3).distinguishable


def test_minimum_detectable_effect_and_seeds_needed():
    from m2pt_core.analysis.power import item_mde, seed_mde, seeds_needed
    # paired t, 5 seeds, sd 2 points: (t.975,4 + t.80,4) · 0.02 / √5 = (2.776 + 0.941) · 0.00894
    assert seed_mde(0.02, 5) == pytest.approx(0.03325, abs=2e-4)
    assert seed_mde(0.02, 10) < seed_mde(0.02, 5) and seed_mde(0.02, 1) != seed_mde(0.02, 1)   # NaN at 1
    n = seeds_needed(0.01, 0.02)
    assert seed_mde(0.02, n) <= 0.01 < seed_mde(0.02, n - 1)
    assert item_mde(0.1, 750) == pytest.approx(2.8016 * (0.1 / 750) ** 0.5, rel=1e-3)


def test_transfer_ratio_between_the_controls():
    import math
    from m2pt_core.analysis.power import transfer_ratio
    r = transfer_ratio(cross=[0.05, 0.06, 0.04, 0.05, 0.05], random=[0.0, 0.01, -0.01, 0.0, 0.0],
                       positive=[0.10, 0.11, 0.09, 0.10, 0.10])
    assert r.estimate == pytest.approx(0.5) and r.lo < 0.5 < r.hi and "transfer ratio" in r.describe()
    none = transfer_ratio([0.01] * 3, [0.02] * 3, [0.0] * 3)          # positive below random: undefined
    assert math.isnan(none.estimate) and "undefined" in none.describe()


def test_train_fraction_is_nested_stratified_and_recorded():
    import numpy as np
    from m2pt_core.data import open_dataset
    from m2pt_core.data.fraction import fraction_indices, train_fraction
    y = np.repeat(np.arange(4), 50)
    small, large = set(fraction_indices(y, 0.05, 0)), set(fraction_indices(y, 0.2, 0))
    assert small <= large and len(small) == 4 * 3 and len(large) == 4 * 10
    train = open_dataset("digits", "train", seed=0, size=300)
    part = train_fraction(train, 0.2, seed=0)
    assert len(part) < len(train) and set(part.y.tolist()) == set(train.y.tolist())
    assert part.provenance.extra["train_fraction"] == 0.2 and train_fraction(train, 1.0) is train
    with pytest.raises(Exception, match="train fraction"):
        fraction_indices(y, 0.0, 0)


def test_content_overlap_counts_identical_items_whatever_their_names():
    from m2pt_core.data import open_dataset
    from m2pt_core.data.overlap import content_overlap
    train = open_dataset("digits", "train", seed=0, size=300)
    test = open_dataset("digits", "test", seed=0, size=300)
    assert content_overlap(train, [test]) <= 2                       # sklearn digits has a few exact duplicates
    assert content_overlap(train, [train.subset(range(7))]) == 7


def test_positive_control_is_refused_when_it_saw_the_evaluation_items(tmp_path):
    from m2pt_core import create_model, save_checkpoint
    from m2pt_core.controls import positive_control
    from m2pt_core.data import open_dataset
    from m2pt_core.errors import M2PTError
    splits = {s: open_dataset("digits", s, seed=0, size=300) for s in ("train", "val", "test")}
    model = create_model("test", "image", 10, input=splits["train"].spec)
    model.data_provenance = splits["train"].provenance.to_dict()          # trained on the target's train split
    ok = positive_control(str(save_checkpoint(model, tmp_path / "same_train.safetensors")), splits)
    assert ok.checked and "checked by content" in ok.note
    other_seed = open_dataset("digits", "train", seed=1, size=300)      # another split of the same items
    model.data_provenance = other_seed.provenance.to_dict()
    path = save_checkpoint(model, tmp_path / "leaky.safetensors")
    with pytest.raises(M2PTError, match="val/test"):
        positive_control(str(path), splits)
    with pytest.raises(M2PTError, match="modality"):
        positive_control("audio-sounds", splits)


def test_experiment_positive_arm_and_train_fractions(tmp_path):
    """The positive control and the low-data axis as experiment arms: the same test items for every
    fraction, the positive auxiliary labelled as such, and a summary per fraction with its MDE."""
    from m2pt_core import create_model, save_checkpoint
    from m2pt_core.data import open_dataset
    from m2pt_core.experiment import run_experiment, summarize
    from m2pt_core.train import TrainConfig
    other = open_dataset("digits", "train", seed=0, size=200)
    pos = create_model("test", "image", 10, input=other.spec)
    pos.data_provenance = other.provenance.to_dict()
    pos_path = save_checkpoint(pos, tmp_path / "pos.safetensors")
    aux_path = save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors")
    config = TrainConfig(epochs=1, batch_size=32, lr=3e-3, warmup_epochs=0, progress=False)
    table = run_experiment("digits", [str(aux_path)], arms=("baseline", "positive", "random"), seeds=(0, 1),
                           config=config, size="test", out_dir=tmp_path / "exp", data_size=200, progress=False,
                           positive_aux=str(pos_path), train_fractions=(0.25, 1.0))
    assert len(table) == 2 * 2 * 3 and set(table.arm) == {"baseline", "positive", "random"}
    assert (table[table.arm == "positive"].aux == str(pos_path)).all()
    assert table.groupby("train_fraction").train_n.first().is_monotonic_increasing
    assert table.test_n.nunique() == 1
    summary = summarize(table)
    assert set(summary.train_fraction) == {0.25, 1.0} and "delta_vs_baseline_mde" in summary.columns
    with pytest.raises(ValueError, match="positive_aux"):
        run_experiment("digits", [str(aux_path)], arms=("baseline", "positive"), size="test", out_dir=tmp_path / "x")


def test_ablation_controls_by_layer_with_a_positive_control_and_a_fraction(tmp_path):
    """`m2pt ablate --by layer --control random positive --train-fraction F`: every layer arm also as
    random:… and positive:…, the positive runs attach the positive auxiliary, all on the same fraction."""
    from m2pt_core import create_model, save_checkpoint
    from m2pt_core.ablation import arm_deltas, build_arms, dry_run, plan_ablation, run_ablation
    from m2pt_core.ablation.runner import seeds_for_effect
    from m2pt_core.data import open_dataset
    from m2pt_core.train import TrainConfig
    names = [a.name for a in build_arms(["layer"], 2, controls=("random", "positive"))]
    assert names == ["baseline", "all", "layer=0", "layer=1", "random", "random:layer=0", "random:layer=1",
                     "positive", "positive:layer=0", "positive:layer=1"]
    other = open_dataset("digits", "train", seed=0, size=200)
    pos = create_model("test", "image", 10, input=other.spec)
    pos.data_provenance = other.provenance.to_dict()
    pos_path = str(save_checkpoint(pos, tmp_path / "pos.safetensors"))
    aux_path = str(save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors"))
    config = TrainConfig(epochs=1, batch_size=32, lr=3e-3, warmup_epochs=0, progress=False)
    with pytest.raises(ValueError, match="positive_aux"):
        plan_ablation("digits", aux_path, by=["layer"], controls=["positive"], size="test", data_size=200)
    plan = plan_ablation("digits", aux_path, by=["layer"], seeds=[0, 1], config=config, size="test",
                         out_dir=tmp_path / "abl", data_size=200, controls=["random", "positive"],
                         positive_aux=pos_path, train_fraction=0.5,
                         arms=["baseline", "layer=0", "random:layer=0", "positive:layer=0"])
    assert plan.positive[0].checked and len(plan.splits["train"]) < len(open_dataset("digits", "train", size=200))
    req = plan.request(next(a for a in plan.arms if a.kind == "positive"), 0)
    assert req.aux == pos_path and req.source is plan.positive[0].weights and req.pathways["layers"] == [0]
    table = run_ablation(plan, progress=False)
    assert len(table) == 8 and set(table.kind) == {"baseline", "m2pt", "random", "positive"}
    deltas = arm_deltas(table)
    assert deltas.delta_acc_mde.notna().all()
    # Δ from integer counts: equal item differences are exactly equal numbers
    assert ((deltas.delta_acc_mean * deltas.test_n).round(9) % 1 == 0).all()
    seeds = seeds_for_effect(plan, dry_run(plan, {"step_s": 0.01, "eval_item_s": 0.0, "batch_size": 32}),
                             effect=0.02, assumed_sd=0.03)
    assert "observed" in seeds.sd_source and "seeds" in seeds.describe()


def test_transfer_ratios_pair_each_arm_with_its_own_controls():
    import pandas as pd
    from m2pt_core.ablation.summary import transfer_ratios
    rows = []
    for s in range(4):
        base = 400 + 10 * s                                        # correct items out of 1000
        for arm, kind, gain in (("baseline", "baseline", 0), ("all", "m2pt", 30 + s), ("random", "random", s),
                                ("positive", "positive", 60 + s)):
            rows.append({"arm": arm, "kind": kind, "seed": s, "test_acc": (base + gain) / 1000, "test_loss": 1.0,
                         "test_n": 1000, "lam_abs_mean": 0.1})
    r = transfer_ratios(pd.DataFrame(rows)).set_index("arm").loc["all"]
    assert r.n_seeds == 4 and r.ratio == pytest.approx(0.5) and r.ratio_lo <= 0.5 <= r.ratio_hi


def test_positive_control_per_seed_from_a_seed_template(tmp_path):
    """'{seed}' in --positive-aux: each seed's positive arms attach that seed's file (a positive
    auxiliary trained from the seed's own initialisation shares the target's basis); a missing
    seed's file is a clear error, not a silent fallback."""
    from m2pt_core import create_model, save_checkpoint
    from m2pt_core.ablation import plan_ablation
    from m2pt_core.data import open_dataset
    from m2pt_core.errors import M2PTError
    other = open_dataset("digits", "train", seed=0, size=200)
    for seed in (0, 1):
        pos = create_model("test", "image", 10, input=other.spec)
        pos.data_provenance = other.provenance.to_dict()
        save_checkpoint(pos, tmp_path / f"pos-seed{seed}.safetensors")
    aux_path = str(save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors"))
    template = str(tmp_path / "pos-seed{seed}.safetensors")
    plan = plan_ablation("digits", aux_path, by=["all"], seeds=[0, 1], size="test", out_dir=tmp_path / "abl",
                         data_size=200, controls=["positive"], positive_aux=template)
    arm = next(a for a in plan.arms if a.kind == "positive")
    reqs = [plan.request(arm, s) for s in (0, 1)]
    assert [r.aux for r in reqs] == [template.format(seed=s) for s in (0, 1)]
    assert reqs[0].source is plan.positive[0].weights and reqs[1].source is plan.positive[1].weights
    assert plan.run_dir(arm, 0) != plan.run_dir(arm, 1)
    with pytest.raises(M2PTError, match="seed 2"):
        plan_ablation("digits", aux_path, by=["all"], seeds=[0, 2], size="test", data_size=200,
                      controls=["positive"], positive_aux=template)
