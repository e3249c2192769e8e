"""Training-time ablations: arms for every --by, seed sharing, reuse/resume, paired Δ, the
first-order estimate's sign on a case with a known answer, the CLI."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

from m2pt_core import create_model, save_checkpoint
from m2pt_core.ablation import (ABLATION_COLUMNS, BY_CHOICES, arm_deltas, build_arms, dry_run, plan_ablation,
                                run_ablation, run_deltas, shuffled_order)
from m2pt_core.ablation.estimate import lambda_gradients, pathway_gradients, rank_agreement
from m2pt_core.experiment import RunRequest, build_model
from m2pt_core.pathways import COMPONENTS, PathwayLinear, load_aux
from m2pt_core.train import TrainConfig

from .test_train import _register_toy

DEPTH = 6


def _pathway_pairs(model) -> dict[str, torch.Tensor]:
    return {n: m.aux_weight for n, m in model.named_modules() if isinstance(m, PathwayLinear)}


@pytest.mark.parametrize("by", BY_CHOICES)
def test_arms_for_every_by_attach_exactly_their_pathways_and_pairs(by):
    arms = build_arms([by], DEPTH)
    names = [a.name for a in arms]
    assert names[:2] == ["baseline", "all"] and len(set(names)) == len(names)
    sub = [a for a in arms if a.by == by]
    expected = {"layer": DEPTH, "component": 4, "layer-component": DEPTH * 4, "depth-prefix": DEPTH - 1,
                "depth-suffix": DEPTH - 1, "order": 2, "all": 1}[by]
    assert len(sub) == expected
    for a in sub:
        pairs = dict(a.pairs(DEPTH))
        if by == "layer":
            assert pairs == {f"blocks.{a.layer}.{c}": a.layer for c in COMPONENTS}
        elif by == "component":
            assert pairs == {f"blocks.{i}.{a.component}": i for i in range(DEPTH)}
        elif by == "layer-component":
            assert pairs == {f"blocks.{a.layer}.{a.component}": a.layer}
        elif by == "depth-prefix":
            assert pairs == {f"blocks.{i}.{c}": i for i in range(a.k) for c in COMPONENTS}
        elif by == "depth-suffix":
            assert pairs == {f"blocks.{i}.{c}": i for i in range(DEPTH - a.k, DEPTH) for c in COMPONENTS}
        elif by == "order":
            assert len(pairs) == DEPTH * 4 and sorted(set(pairs.values())) == list(range(DEPTH))
            if a.name == "order=reversed":
                assert all(j == DEPTH - 1 - int(n.split(".")[1]) for n, j in pairs.items())
            else:
                assert [pairs[f"blocks.{i}.attn.qkv"] for i in range(DEPTH)] == list(shuffled_order(DEPTH, 0))
    assert shuffled_order(DEPTH, 0) != tuple(range(DEPTH)) and shuffled_order(DEPTH, 0) == shuffled_order(DEPTH, 0)
    with pytest.raises(ValueError, match="Unknown --by"):
        build_arms(["layers"], DEPTH)


@pytest.mark.parametrize("by", ["layer", "component", "layer-component", "depth-prefix", "depth-suffix", "order"])
def test_built_models_have_pathway_linear_exactly_where_the_arm_says(by):
    """Attached on a real (test-size, depth 2) model: PathwayLinear where the arm says, holding the
    auxiliary block the arm pairs it with."""
    torch.manual_seed(1)
    aux = load_aux(create_model("test", "audio", 3))
    train = _toy_train()
    for arm in build_arms([by], 2, controls=["random"]):
        model = build_model(RunRequest("toy2", arm.kind, "aux", None if arm.kind == "baseline" else aux, 0, "test",
                                       TrainConfig(), 0.0, "unused", arm.name, arm.pathways()), train)
        got = _pathway_pairs(model)
        want = dict(arm.pairs(2))
        assert set(got) == set(want), arm.name
        if arm.kind == "m2pt":
            for name, j in want.items():
                comp = name.split(".", 2)[2]
                assert torch.equal(got[name], aux.get(j, comp)), (arm.name, name)


def _toy_train():
    from m2pt_core.data import load_dataset
    _register_toy()
    return load_dataset("toy2", "train", size=60)


def _aux_file(tmp_path):
    torch.manual_seed(5)
    return str(save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors"))


def test_arms_of_a_seed_share_initialisation_and_data_order(tmp_path, monkeypatch):
    import m2pt_core.experiment as experiment
    seen = []
    real_fit = experiment.one_run.fit

    def spy(model, train, val, cfg, **kw):
        target = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith(("aux_weight", "lam"))}
        seen.append((cfg.seed, target))
        return real_fit(model, train, val, cfg, **kw)

    monkeypatch.setattr(experiment.one_run, "fit", spy)
    _register_toy()
    plan = plan_ablation("toy2", _aux_file(tmp_path), by=["layer", "order"], seeds=[0, 1], size="test",
                         config=TrainConfig(epochs=1, batch_size=32, warmup_epochs=0), out_dir=tmp_path / "abl",
                         data_size=60)
    run_ablation(plan, progress=False)
    per_arm = len(plan.arms)
    assert len(seen) == 2 * per_arm
    for s, block in ((0, seen[:per_arm]), (1, seen[per_arm:])):
        assert all(seed == s for seed, _ in block)          # the fit seed fixes the data order
        ref = block[0][1]
        for _, state in block[1:]:
            assert state.keys() == ref.keys() and all(torch.equal(state[k], ref[k]) for k in ref)
    assert not torch.equal(seen[0][1]["blocks.0.attn.qkv.weight"], seen[per_arm][1]["blocks.0.attn.qkv.weight"])


def test_ablation_is_reused_and_resumed(tmp_path):
    _register_toy()
    aux = _aux_file(tmp_path)
    kw = dict(by=["component"], seeds=[0], size="test", config=TrainConfig(epochs=2, batch_size=16, warmup_epochs=0),
              out_dir=tmp_path / "abl", data_size=60, arms=["baseline", "all", "component=qkv", "component=fc2"])
    plan = plan_ablation("toy2", aux, **kw)
    events = []

    def stop_in_third_run(event):       # a Stop during the third run's second epoch
        events.append(event)
        runs_started = sum(e.get("event") == "step" and e.get("global_step") == 1 for e in events)
        return not (runs_started >= 3 and event.get("event") == "step" and event.get("epoch", 0) >= 2)

    part = run_ablation(plan, progress=False, progress_callback=stop_in_third_run)
    assert part.arm.tolist() == ["baseline", "all"]                   # finished arms kept
    assert pd.read_csv(tmp_path / "abl" / "ablation.csv").arm.tolist() == ["baseline", "all"]
    third = plan.run_dir(plan.arms[2], 0)
    assert json.loads((third / "train_state.json").read_text())["epoch"] == 1   # its first epoch kept
    mtimes = {a.name: (plan.run_dir(a, 0) / "model.safetensors").stat().st_mtime_ns for a in plan.arms[:2]}
    full = run_ablation(plan_ablation("toy2", aux, **kw), progress=False)
    assert full.arm.tolist() == ["baseline", "all", "component=qkv", "component=fc2"]
    assert list(full.columns) == ABLATION_COLUMNS
    assert full.iloc[:2].test_acc.tolist() == part.test_acc.tolist()
    assert {a.name: (plan.run_dir(a, 0) / "model.safetensors").stat().st_mtime_ns for a in plan.arms[:2]} == mtimes
    assert full.epochs.tolist() == [2, 2, 2, 2]
    # the "all" arm is the experiment's m2pt run: same spec, so the same id
    from m2pt_core.experiment import run_experiment
    exp = run_experiment("toy2", [aux], arms=("baseline", "m2pt"), seeds=(0,), config=kw["config"], size="test",
                         out_dir=tmp_path / "exp", data_size=60, progress=False)
    assert exp.run_id.tolist() == full.run_id.iloc[:2].tolist()
    # all tables from it
    d = arm_deltas(full)
    assert d.arm.tolist() == ["all", "component=qkv", "component=fc2"] and (d.n_seeds == 1).all()
    r = run_deltas(full)
    assert len(r) == 3 and (r.test_n == full.test_n.iloc[0]).all()
    assert dry_run(plan, timing={"step_s": 1.0, "eval_item_s": 0.0, "batch_size": 16}).finished.all()


def test_arm_deltas_pair_by_seed_with_a_t_interval():
    rows = []   # accuracies are counts out of test_n = 1000 items (Δ is computed from the counts)
    for s, base in enumerate([0.80, 0.90, 0.85]):
        rows.append({"arm": "baseline", "by": "baseline", "seed": s, "test_acc": base, "test_loss": 0.5,
                     "test_n": 1000, "lam_abs_mean": None})
        rows.append({"arm": "layer=0", "by": "layer", "layer": 0, "seed": s, "test_acc": base + 0.02 + 0.001 * s,
                     "test_loss": 0.4, "test_n": 1000, "lam_abs_mean": 0.1})
        rows.append({"arm": "layer=1", "by": "layer", "layer": 1, "seed": s, "test_acc": base + [0.03, -0.03, 0.0][s],
                     "test_loss": 0.5, "test_n": 1000, "lam_abs_mean": 0.1})
    d = arm_deltas(pd.DataFrame(rows)).set_index("arm")
    assert d.loc["layer=0"].delta_acc_mean == pytest.approx(0.021)
    assert d.loc["layer=0"].distinguishable and d.loc["layer=0"].delta_acc_lo > 0    # consistent over seeds
    assert d.loc["layer=1"].delta_acc_mean == pytest.approx(0.0, abs=1e-12)
    assert not d.loc["layer=1"].distinguishable and d.loc["layer=1"].delta_acc_lo < 0 < d.loc["layer=1"].delta_acc_hi
    assert d.loc["layer=0"].delta_loss_mean == pytest.approx(-0.1)


class _Linear(nn.Module):
    """A model with one pathway per "block": blocks.i.mlp.fc2 is the classifier itself."""

    def __init__(self, heads: list[torch.Tensor]):
        super().__init__()
        self.blocks = nn.ModuleList()
        for w in heads:
            blk = nn.Module()
            blk.mlp = nn.Module()
            lin = nn.Linear(w.shape[1], w.shape[0])
            nn.init.zeros_(lin.weight), nn.init.zeros_(lin.bias)
            blk.mlp.fc2 = PathwayLinear(lin, w)
            self.blocks.append(blk)

    def forward(self, x):
        return sum(b.mlp.fc2(x) for b in self.blocks)        # (B, C)


def test_estimate_sign_on_a_case_with_a_known_answer():
    """Labels come from the linear classifier W*. A zero model with pathways W*, −W* and an
    unrelated direction: a positive λ on W* must lower the loss (gain_pos > 0), on −W* raise it,
    and the first-order prediction must match a finite difference."""
    g = torch.Generator().manual_seed(0)
    w_star = torch.randn(3, 5, generator=g)
    X = torch.randn(400, 5, generator=g)
    y = (X @ w_star.T).argmax(-1)
    other = torch.zeros(3, 5)
    other[:, 0] = 1.0                      # the same logit shift for every class: no effect on the loss
    model = _Linear([w_star, -w_star, other])
    grads = lambda_gradients(model, X, y)
    gain_pos = {n: -v for n, v in grads.items()}
    assert gain_pos["blocks.0.mlp.fc2"] > 0.1 and gain_pos["blocks.1.mlp.fc2"] < -0.1
    assert abs(gain_pos["blocks.2.mlp.fc2"]) < 1e-6
    eps = 1e-3
    with torch.no_grad():
        loss0 = nn.functional.cross_entropy(model(X), y)
        model.blocks[0].mlp.fc2.lam.fill_(eps)
        loss1 = nn.functional.cross_entropy(model(X), y)
    assert float(loss0 - loss1) == pytest.approx(eps * gain_pos["blocks.0.mlp.fc2"], rel=1e-2)
    assert model.blocks[0].mlp.fc2.lam.grad is None and model.blocks[0].mlp.fc2.lam.requires_grad


def test_pathway_gradients_cover_every_cell_and_rank_agreement():
    torch.manual_seed(0)
    train = _toy_train()
    base = create_model("test", "image", 2)
    aux = load_aux(create_model("test", "audio", 3))
    cells = pathway_gradients(base, aux, train)
    assert len(cells) == 2 * 4 and (cells.gain == cells.dL_dlam.abs()).all() and (cells.n == len(train)).all()
    assert not any(isinstance(m, PathwayLinear) for m in base.modules())      # the baseline is untouched
    rev = pathway_gradients(base, aux, train, aux_layers=[1, 0])
    assert rev.aux_layer.tolist()[:4] == [1] * 4 and not rev.dL_dlam.equals(cells.dL_dlam)
    deltas = pd.DataFrame({"arm": ["a", "b", "c", "d"], "delta_acc_mean": [0.1, 0.2, 0.3, 0.4],
                           "delta_loss_mean": [-0.1, -0.2, -0.3, -0.4]})
    est = pd.DataFrame({"arm": ["a", "b", "c", "d"], "gain": [1.0, 2.0, 3.0, 4.0]})
    agree = rank_agreement(deltas, est)
    assert agree["spearman_acc"] == pytest.approx(1.0) and agree["spearman_loss"] == pytest.approx(1.0)


def test_cli_ablate_dry_run_and_run(tmp_path, capsys):
    from m2pt_core.cli import main
    _register_toy()
    aux = _aux_file(tmp_path)
    args = ["ablate", "--target", "toy2", "--aux", aux, "--by", "order", "--seeds", "0", "--size", "test",
            "--epochs", "1", "--batch-size", "32", "--data-size", "60", "--out", str(tmp_path / "abl"), "--no-progress"]
    assert main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "order=reversed" in out and "estimated" in out and "4 runs (4 to train" in out
    assert not (tmp_path / "abl" / "ablation.csv").exists()
    assert main(args + ["--estimate"]) == 0
    for f in ("ablation.csv", "deltas.csv", "run_deltas.csv", "estimate.csv", "ablation.json", "command.txt"):
        assert (tmp_path / "abl" / f).is_file(), f
    assert (tmp_path / "abl" / "command.txt").read_text().startswith("m2pt ablate --target toy2")
    est = pd.read_csv(tmp_path / "abl" / "estimate.csv")
    assert est.arm.tolist() == ["all", "order=reversed", "order=shuffled"] and (est.pathways == 8).all()


def test_ablate_from_init_sizes_the_arms_from_the_checkpoint(tmp_path, capsys):
    """--init: every arm starts from the pretrained weights, and the arms follow its depth (3 here,
    not the --size default's)."""
    import json as _json

    from m2pt_core.cli import main
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    from m2pt_core.sizes import get_size
    _register_toy()
    paths = []
    for name, seed in (("init", 0), ("aux", 1)):     # timm ViTs of the toy data's shape (1×28×28), 3 blocks
        torch.manual_seed(seed)
        vit = VisionTransformer(img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2)
        paths.append(tmp_path / f"{name}.safetensors")
        save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(paths[-1]))
    init, aux = paths
    assert get_size("demo").depth != 3
    base = ["ablate", "--target", "toy2", "--aux", str(aux), "--init", str(init), "--num-heads", "2", "--by", "layer",
            "--seeds", "0", "--epochs", "1", "--batch-size", "32", "--data-size", "60", "--out", str(tmp_path / "abl"),
            "--no-progress"]
    assert main(base + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "layer=2" in out and "layer=3" not in out and "5 runs" in out
    assert main(base + ["--arms", "baseline", "layer=2"]) == 0
    meta = _json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert meta["depth"] == 3 and meta["init"] == str(init)
    plan = plan_ablation("toy2", str(aux), by=["layer"], seeds=[0], config=TrainConfig(epochs=1, batch_size=32),
                         out_dir=tmp_path / "abl", data_size=60, init=str(init), num_heads=2, progress=False)
    assert plan.depth == 3 and plan.finished(plan.arms[0], 0)
    model = build_model(plan.request(plan.arms[0], 0), plan.splits["train"], plan.splits)
    from safetensors.torch import load_file
    assert torch.equal(model.blocks[2].mlp.fc1.weight.detach(), load_file(str(init))["blocks.2.mlp.fc1.weight"])


def test_rank_agreement_compares_gain_per_pathway_with_an_interval_and_keeps_ties():
    """An arm's Σ|g| grows with its pathways: "all" (24) would rank first on the sum whatever it
    does. Per pathway, the arm with the larger gain per pathway ranks first; ρ comes with an interval."""
    deltas = pd.DataFrame({"arm": ["all", "layer=0", "layer=1", "layer=2", "layer=3"],
                           "delta_acc_mean": [0.00, 0.04, 0.03, 0.02, 0.01],
                           "delta_loss_mean": [0.0, -0.4, -0.3, -0.2, -0.1]})
    est = pd.DataFrame({"arm": deltas.arm, "pathways": [16, 4, 4, 4, 4],
                        "gain": [16 * 0.5, 4 * 4.0, 4 * 3.0, 4 * 2.0, 4 * 1.0]})
    agree = rank_agreement(deltas, est)
    assert agree["spearman_acc"] == pytest.approx(1.0)          # on the sum it would be +0.10
    assert agree["spearman_acc_lo"] <= agree["spearman_acc"] <= agree["spearman_acc_hi"]
    assert "per pathway" in agree["estimate_at"]
    tied = deltas.assign(delta_acc_mean=[0.0, 0.02, 0.02, 0.02, 0.0])
    assert rank_agreement(tied, est)["spearman_acc"] == pytest.approx(
        pd.Series([0.5, 4, 3, 2, 1]).corr(pd.Series([0.0, 0.02, 0.02, 0.02, 0.0]), method="spearman"))
