"""Training loop: learning, exact resume, JSONL log with λ, weight-decay groups, cancel, CLI, DDP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from m2pt_core import attach_pathways, create_model, load_checkpoint
from m2pt_core.safe_io import read_jsonl
from m2pt_core.train import Cancelled, TrainConfig, evaluate, fit, param_groups


def toy_data(n: int = 128, seed: int = 0) -> TensorDataset:
    """Two separable classes of 28×28 images: (n, 1, 28, 28), (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    X = torch.randn(n, 1, 28, 28, generator=g) * 0.5
    X[y == 1, :, :14] += 1.0
    return TensorDataset(X, y)


def m2pt_model(seed: int = 0):
    torch.manual_seed(seed)
    model = create_model("test", "image", 2)
    aux = create_model("test", "audio", 5)
    attach_pathways(model, aux)
    return model


def cfg(tmp_path=None, **kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, lr=3e-3, warmup_epochs=0.5, progress=False,
                out_dir=str(tmp_path) if tmp_path else None)
    return TrainConfig(**{**base, **kw})


def test_loss_falls_and_evaluate():
    data = toy_data()
    model = m2pt_model()
    before = evaluate(model, data)["loss"]
    result = fit(model, data, data, cfg(epochs=3))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    after = evaluate(model, data)
    assert after["loss"] < before and after["acc"] > 0.9 and after["n"] == len(data)


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path):
    """The 'kill' stops a 3-epoch run after epoch 1 (its checkpoint is on disk); a second process-
    like call with resume=True continues. (Stopping a run configured for 1 epoch and extending it
    to 2 would change the cosine schedule, so it could not match an uninterrupted 2-epoch run.)"""
    data = toy_data()
    straight = m2pt_model()
    r1 = fit(straight, data, data, cfg(tmp_path / "a", epochs=3))

    killed = m2pt_model()
    r2 = fit(killed, data, data, cfg(tmp_path / "b", epochs=3),
             progress_callback=lambda e: not (e["event"] == "epoch" and e["epoch"] == 1))
    assert r2.cancelled and len(r2.history) == 1 and r2.model_path is None

    resumed = m2pt_model(seed=123)  # different init: everything must come from the checkpoint
    r3 = fit(resumed, data, data, cfg(tmp_path / "b", epochs=3, resume=True))
    assert r3.resumed_from_epoch == 1 and not r3.cancelled
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(r3.history) == strip(r1.history)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert strip(read_jsonl(tmp_path / "b" / "log.jsonl")) == strip(r1.history)
    # No pickles anywhere: safetensors and JSON only.
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert files and all(p.suffix in (".safetensors", ".json", ".jsonl") for p in files)


def test_log_holds_lambda_per_epoch(tmp_path):
    data = toy_data(96)
    model = m2pt_model()
    result = fit(model, data, data, cfg(tmp_path, epochs=2, lambda_lr_scale=10))
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["epoch"] for r in log] == [1, 2]
    for r in log:
        assert set(r) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s", "lambdas"}
        assert len(r["lambdas"]) == 8 and all(k.startswith("blocks.") for k in r["lambdas"])
    assert any(v != 0 for v in log[-1]["lambdas"].values())   # λ moved off its init
    reloaded = load_checkpoint(result.model_path)
    assert torch.allclose(reloaded.blocks[0].attn.qkv.lam, model.blocks[0].attn.qkv.lam)


def test_weight_decay_groups_exclude_lambda_bias_norm_tokens():
    model = m2pt_model()
    groups = {g["name"]: g for g in param_groups(model, cfg(lr=1e-3, lambda_lr_scale=10, weight_decay=0.1))}
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)] for p in groups["decay"]["params"]}
    no_decay = {names[id(p)] for p in groups["no_decay"]["params"]}
    lam = {names[id(p)] for p in groups["lambda"]["params"]}
    assert groups["decay"]["weight_decay"] == 0.1
    assert groups["no_decay"]["weight_decay"] == 0 and groups["lambda"]["weight_decay"] == 0
    assert groups["lambda"]["lr"] == pytest.approx(1e-2)
    assert lam == {n for n in names.values() if n.endswith(".lam")} and len(lam) == 8
    assert {"cls_token", "pos_embed", "norm.weight", "norm.bias", "head.bias"} <= no_decay
    assert all(n.endswith((".bias", "pos_embed", "cls_token")) or "norm" in n for n in no_decay)
    assert "blocks.0.attn.qkv.weight" in decay and "blocks.0.attn.qkv.aux_weight" in decay
    assert all(not n.endswith(".lam") and not n.endswith(".bias") for n in decay)


def test_cancel_by_exception_stops_cleanly(tmp_path):
    def cb(event):
        if event["event"] == "step" and event["global_step"] == 2:
            raise Cancelled()
    result = fit(m2pt_model(), toy_data(), None, cfg(tmp_path, epochs=3), progress_callback=cb)
    assert result.cancelled and result.history == [] and result.model_path is None


def _register_toy():
    from m2pt_core.data import register_dataset

    def build(spec, seed, size):
        d = toy_data(size or 120, seed)
        return d.tensors
    register_dataset("toy2", "image", ["a", "b"], build, overwrite=True)


def test_cli_train_and_eval(tmp_path, capsys):
    from m2pt_core.cli import main
    _register_toy()
    out = tmp_path / "run"
    assert main(["train", "--dataset", "toy2", "--size", "test", "--epochs", "2", "--batch-size", "32",
                 "--aux", "random", "--out", str(out), "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["test_acc"] > 0.5 and Path(res["model"]).is_file()
    assert main(["eval", str(out / "model.safetensors")]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["acc"] == pytest.approx(res["test_acc"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_run_an_epoch(tmp_path):
    """torchrun, 2 gloo processes, one epoch of the test size on a small digits subset."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "M2PT_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "m2pt_core.cli", "train", "--dataset", "digits", "--data-size", "120", "--size", "test",
           "--epochs", "1", "--batch-size", "16", "--aux", "random", "--out", str(tmp_path), "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_jsonl(tmp_path / "log.jsonl")
    assert len(log) == 1 and len(log[0]["lambdas"]) == 8     # rank 0 alone wrote one record
    assert (tmp_path / "model.safetensors").is_file()
    assert proc.stdout.count("test_acc") == 1                # rank 0 alone printed


def test_empty_validation_set_is_refused():
    model = create_model("test", "image", 3)
    train = TensorDataset(torch.randn(8, 1, 28, 28), torch.randint(0, 3, (8,)))
    empty = TensorDataset(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="validation set is empty"):
        fit(model, train, empty, TrainConfig(epochs=1, batch_size=4, progress=False))


# ── resume with a changed recipe (issue 10, item 2) ─────────────────────────────────────────────

def _kill_after_epoch_1(tmp_path, **kw):
    r = fit(m2pt_model(), toy_data(), None, cfg(tmp_path, epochs=3, **kw),
            progress_callback=lambda e: not (e["event"] == "epoch" and e["epoch"] == 1))
    assert r.cancelled and len(r.history) == 1
    return r


def test_resume_applies_a_changed_lr_weight_decay_and_lambda_scale(tmp_path, monkeypatch):
    """The new recipe is the one in effect (param groups rebuilt from it), logged as a change at the
    resumed step, and recorded in train_state.json."""
    import m2pt_core.train.loop as loop
    _kill_after_epoch_1(tmp_path, lr=3e-3, weight_decay=0.05, lambda_lr_scale=100)
    built = []
    orig = loop.build_optimizer
    monkeypatch.setattr(loop, "build_optimizer", lambda m, c: built.append(orig(m, c)) or built[-1])
    steps = []
    new = cfg(tmp_path, epochs=3, lr=1e-3, weight_decay=0.2, lambda_lr_scale=10, resume=True)
    with pytest.warns(UserWarning, match="changed recipe"):
        r = fit(m2pt_model(), toy_data(), None, new, progress_callback=lambda e: steps.append(e) or True)
    assert r.resumed_from_epoch == 1
    groups = {g["name"]: g for g in built[0].param_groups}
    assert groups["decay"]["base_lr"] == pytest.approx(1e-3) and groups["decay"]["weight_decay"] == 0.2
    assert groups["lambda"]["base_lr"] == pytest.approx(1e-2) and groups["no_decay"]["weight_decay"] == 0
    first = next(e for e in steps if e["event"] == "step")          # first step after the resume
    factor = loop.lr_factor(first["global_step"] - 1, first["total_steps"], 2, 0.01)
    assert first["lr"] == pytest.approx(1e-3 * factor)               # the new base lr, not 3e-3
    assert built[0].state, "the Adam moments were restored"
    log = read_jsonl(tmp_path / "log.jsonl")
    change = [r for r in log if r.get("event") == "recipe_change"]
    assert len(change) == 1 and change[0]["step"] == 4 and change[0]["from_epoch"] == 2
    assert change[0]["changes"] == {"lr": {"from": 3e-3, "to": 1e-3}, "weight_decay": {"from": 0.05, "to": 0.2},
                                    "lambda_lr_scale": {"from": 100, "to": 10}}
    assert [r["epoch"] for r in log if "epoch" in r] == [1, 2, 3]
    state = json.loads((tmp_path / "train_state.json").read_text())
    assert state["config"]["lr"] == 1e-3 and state["recipe_changes"] == change


def test_resume_keeps_an_unchanged_recipe_silent(tmp_path):
    import warnings
    _kill_after_epoch_1(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(m2pt_model(), toy_data(), None, cfg(tmp_path, epochs=3, resume=True))
    assert not [r for r in read_jsonl(tmp_path / "log.jsonl") if r.get("event")]


@pytest.mark.parametrize("change", [{"epochs": 4}, {"batch_size": 16}, {"seed": 1}])
def test_resume_refuses_a_change_it_cannot_apply(tmp_path, change):
    from m2pt_core.errors import ResumeError
    _kill_after_epoch_1(tmp_path)
    before = (tmp_path / "train_state.json").read_text()
    field = next(iter(change))
    with pytest.raises(ResumeError, match=f"different {field}"):
        fit(m2pt_model(), toy_data(), None, cfg(tmp_path, **{"epochs": 3, **change}, resume=True))
    assert (tmp_path / "train_state.json").read_text() == before


def test_resume_refuses_other_trainable_parameters(tmp_path):
    from m2pt_core.errors import CheckpointError
    _kill_after_epoch_1(tmp_path)
    torch.manual_seed(0)
    frozen = create_model("test", "image", 2)
    attach_pathways(frozen, create_model("test", "audio", 5), aux_trainable=False)
    with pytest.raises(CheckpointError, match="optimizer groups"):
        fit(frozen, toy_data(), None, cfg(tmp_path, epochs=3, resume=True))


# ── runs never share random state (issue 10, item 4) ────────────────────────────────────────────

def _job(seed: int, wait=None):
    """A tiny run with drop-path (so training itself draws random numbers): init + fit."""
    from m2pt_core.train.rng import seeded
    with seeded(seed):
        model = create_model("test", "image", 2, drop_path_rate=0.3)
        attach_pathways(model, create_model("test", "audio", 5))
    fit(model, toy_data(64, seed), None, cfg(epochs=2, batch_size=16, seed=seed), progress_callback=wait)
    return model.state_dict()


def test_fit_and_seeded_init_leave_the_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    _job(0)
    assert torch.equal(torch.get_rng_state(), before)


def test_two_runs_in_two_threads_give_what_each_gives_alone():
    """Run 0 pauses at its first step until run 1 has finished (or 2 s went by): run 1's init and
    drop-path draws happen while run 0 is mid-epoch. Both still match their solo results."""
    import threading
    alone = {s: _job(s) for s in (0, 1)}
    done = threading.Event()

    def pause_once(event):
        if event["event"] == "step" and event["global_step"] == 1:
            done.wait(timeout=2.0)
        return True

    out = {}
    t0 = threading.Thread(target=lambda: out.__setitem__(0, _job(0, pause_once)))
    t1 = threading.Thread(target=lambda: (out.__setitem__(1, _job(1)), done.set()))
    t0.start(), t1.start()
    t0.join(60), t1.join(60)
    for s in (0, 1):
        assert all(torch.equal(alone[s][k], out[s][k]) for k in alone[s]), f"run {s} changed"


def test_pinned_threads_are_not_changed_per_job(monkeypatch):
    import m2pt_core.data.threads as threads
    monkeypatch.setattr(threads, "_pinned", None)
    n = torch.get_num_threads()
    with threads.torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == n
    threads.pin_threads(n)
    with threads.torch_threads(2):
        assert torch.get_num_threads() == n    # a server pinned it: a job leaves it alone


# ── recipe presets (issue 10, item 5) ───────────────────────────────────────────────────────────

def test_recipe_presets_and_explicit_flags_override_them():
    from m2pt_core.cli import _config, _recipe, build_parser
    parse = lambda *a: build_parser().parse_args(["train", "--dataset", "toy2", *a])  # noqa: E731
    paper = _recipe(parse("--recipe", "paper"))
    assert (paper.lambda_lr_scale, paper.lambda_init, paper.aux_trainable) == (1.0, 0.0, True)
    assert paper.components == ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
    assert _config(parse("--recipe", "paper")).lambda_lr_scale == 1.0
    assert _config(parse()).lambda_lr_scale == TrainConfig.lambda_lr_scale == 100.0   # ours, the default
    over = parse("--recipe", "paper", "--lambda-lr-scale", "5", "--lambda-init", "0.1", "--aux-frozen",
                 "--components", "mlp.fc1")
    r = _recipe(over)
    assert (r.lambda_lr_scale, r.lambda_init, r.aux_trainable, r.components) == (5.0, 0.1, False, ("mlp.fc1",))
    assert _config(over).lambda_lr_scale == 5.0


def test_cli_train_with_the_paper_recipe_and_chosen_components(tmp_path, capsys):
    from m2pt_core.cli import main
    from m2pt_core.pathways import pathway_modules
    _register_toy()
    out = tmp_path / "run"
    assert main(["train", "--dataset", "toy2", "--size", "test", "--epochs", "1", "--batch-size", "32",
                 "--aux", "random", "--recipe", "paper", "--components", "attn.qkv", "mlp.fc2",
                 "--out", str(out), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recipe"] == "paper"
    state = json.loads((out / "train_state.json").read_text())
    assert state["config"]["lambda_lr_scale"] == 1.0
    names = pathway_modules(load_checkpoint(out / "model.safetensors"))
    assert sorted({n.split(".", 2)[2] for n in names}) == ["attn.qkv", "mlp.fc2"] and len(names) == 4


def test_resuming_a_finished_run_with_a_changed_lr_logs_no_change(tmp_path):
    import warnings
    fit(m2pt_model(), toy_data(64), None, cfg(tmp_path, epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = fit(m2pt_model(), toy_data(64), None, cfg(tmp_path, epochs=1, lr=1e-4, resume=True))
    assert r.resumed_from_epoch == 1 and not [x for x in read_jsonl(tmp_path / "log.jsonl") if x.get("event")]
