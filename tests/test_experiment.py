"""Experiment runner: every arm in one tidy table, the random control matches norms, summary."""
from __future__ import annotations

import torch

from m2pt_core import create_model, save_checkpoint
from m2pt_core.experiment import RESULT_COLUMNS, random_aux_like, run_experiment, summarize
from m2pt_core.pathways import load_aux
from m2pt_core.train import TrainConfig

from .test_train import _register_toy


def test_random_aux_like_matches_per_layer_norm():
    torch.manual_seed(0)
    aux = load_aux(create_model("test", "audio", 3))
    rnd = random_aux_like(aux, seed=1)
    assert rnd.weights.keys() == aux.weights.keys()
    for key, w in aux.weights.items():
        r = rnd.weights[key]
        assert r.shape == w.shape and torch.allclose(r.norm(), w.norm(), rtol=1e-5)
        assert not torch.allclose(r, w)
    again = random_aux_like(aux, seed=1)
    assert all(torch.equal(again.weights[k], rnd.weights[k]) for k in rnd.weights)


def test_run_experiment_returns_all_arms(tmp_path):
    _register_toy()
    torch.manual_seed(5)
    aux_path = save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors")
    config = TrainConfig(epochs=1, batch_size=32, lr=3e-3, warmup_epochs=0)
    table = run_experiment("toy2", [str(aux_path)], arms=("baseline", "m2pt", "random", "frozen"),
                           seeds=(0, 1), config=config, size="test", out_dir=tmp_path / "exp", data_size=60, progress=False)
    assert list(table.columns) == RESULT_COLUMNS and len(table) == 2 * 4
    assert set(table.arm) == {"baseline", "m2pt", "random", "frozen"}
    assert table[table.arm == "baseline"].lam_mean.isna().all()
    assert table[table.arm != "baseline"].lam_abs_mean.notna().all()
    assert (tmp_path / "exp" / "results.csv").is_file()
    summary = summarize(table)
    assert len(summary) == 4 and (summary.n_seeds == 2).all()
    assert "±" in summary.test_acc.iloc[0] and "delta_vs_baseline_mean" in summary
    # Finished runs are reused: a second call trains nothing and gives the same table.
    again = run_experiment("toy2", [str(aux_path)], arms=("baseline", "m2pt", "random", "frozen"),
                           seeds=(0, 1), config=config, size="test", out_dir=tmp_path / "exp", data_size=60, progress=False)
    assert again.test_acc.tolist() == table.test_acc.tolist()


def test_summarize_gives_the_seed_level_t_interval_of_the_paired_delta():
    import pandas as pd
    import pytest
    rows = [{"arm": "baseline", "aux": "none", "seed": s, "test_acc": a} for s, a in enumerate([0.83, 0.86, 0.87])]
    rows += [{"arm": "m2pt", "aux": "pc", "seed": s, "test_acc": a + d}
             for s, (a, d) in enumerate(zip([0.83, 0.86, 0.87], [0.036, 0.011, 0.0]))]
    rows += [{"arm": "random", "aux": "pc", "seed": s, "test_acc": a - 0.07 + 0.001 * s}
             for s, a in enumerate([0.83, 0.86, 0.87])]
    table = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    out = summarize(table).set_index("arm")
    m = out.loc["m2pt"]
    half = 4.3026527 * pd.Series([0.036, 0.011, 0.0]).std() / 3 ** 0.5
    assert m.delta_vs_baseline_mean == pytest.approx(0.015667, abs=1e-5)
    assert m.delta_vs_baseline_hi - m.delta_vs_baseline_mean == pytest.approx(half, rel=1e-5)
    assert not m.delta_distinguishable
    assert out.loc["random"].delta_distinguishable and out.loc["random"].delta_vs_baseline_hi < 0
    assert out.loc["baseline"].delta_vs_baseline_mean == 0.0


def test_runs_are_reused_only_when_everything_that_affects_them_matches(tmp_path):
    """On main before run specs, changing --data-size, --lambda-init or the lr silently reused the
    old runs (folders were named by arm, aux and seed only)."""
    import json
    _register_toy()
    torch.manual_seed(5)
    aux_path = save_checkpoint(create_model("test", "audio", 4), tmp_path / "aux.safetensors")
    config = TrainConfig(epochs=1, batch_size=32, lr=3e-3, warmup_epochs=0)
    kw = dict(arms=("baseline", "m2pt"), seeds=(0,), size="test", out_dir=tmp_path / "exp", progress=False)

    def model_files():
        return {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "exp").glob("*/model.safetensors")}

    first = run_experiment("toy2", [str(aux_path)], config=config, data_size=60, **kw)
    files = model_files()
    assert len(files) == 2
    again = run_experiment("toy2", [str(aux_path)], config=config, data_size=60, **kw)
    assert model_files() == files and again.run_id.tolist() == first.run_id.tolist()   # reused, not retrained
    changed = [run_experiment("toy2", [str(aux_path)], config=config, data_size=72, **kw),
               run_experiment("toy2", [str(aux_path)], config=TrainConfig(epochs=1, batch_size=32, lr=1e-3,
                                                                          warmup_epochs=0), data_size=60, **kw),
               run_experiment("toy2", [str(aux_path)], config=config, data_size=60, lambda_init=0.01, **kw)]
    ids = set(first.run_id)
    for table in changed:
        m2pt_row = table[table.arm == "m2pt"].iloc[0]
        assert m2pt_row.run_id not in ids
        ids |= set(table.run_id)
    assert len(model_files()) == 2 + 2 + 2 + 1   # the λ-init change leaves the baseline as it was
    row = first.iloc[1]
    recipe = json.loads(row.recipe)
    assert recipe["lr"] == 3e-3 and recipe["seed"] == 0 and json.loads(row.data)["size"] == 60
    assert row.aux_sha256 and len(row.aux_sha256) == 64
    # another auxiliary file with the same weights is the same auxiliary
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(aux_path.read_bytes())
    same = run_experiment("toy2", [str(copy)], config=config, data_size=60, arms=("m2pt",), seeds=(0,),
                          size="test", out_dir=tmp_path / "exp2", progress=False)
    assert same.aux_sha256.iloc[0] == row.aux_sha256


def test_every_option_declares_its_part_in_the_run_identity():
    """A field added to TrainConfig or RunRequest without a role stops the import; here the check itself."""
    import dataclasses
    import pytest
    from m2pt_core.experiment import RunRequest
    from m2pt_core.run_identity import Role, check_declared, names_with, run_field
    from m2pt_core.train.config import RESUME_APPLIED_FIELDS, RESUME_REFUSED_FIELDS, recipe_of
    for cls in (TrainConfig, RunRequest):
        assert check_declared(cls) is cls
        assert all(isinstance(f.metadata["run_role"], Role) for f in dataclasses.fields(cls))
    undeclared = dataclasses.make_dataclass("Later", [("data_fraction", float, dataclasses.field(default=1.0))],
                                            bases=(RunRequest,))
    with pytest.raises(TypeError, match=r"\['data_fraction'\] do not declare whether they affect"):
        check_declared(undeclared)
    declared = dataclasses.make_dataclass("Later", [("data_fraction", float, run_field(1.0, Role.RESULT))],
                                          bases=(RunRequest,))
    assert check_declared(declared) and "data_fraction" in names_with(declared, Role.RESULT)
    # the resume policy and the recipe are the declarations, nothing kept by hand
    assert RESUME_APPLIED_FIELDS == names_with(TrainConfig, Role.APPLIED)
    assert {"epochs", "batch_size", "seed"} == set(RESUME_REFUSED_FIELDS)
    assert set(recipe_of(TrainConfig())) == set(RESUME_APPLIED_FIELDS) | set(RESUME_REFUSED_FIELDS)


def test_run_id_covers_heads_init_content_threads_and_torch_but_not_paths_or_names(tmp_path, monkeypatch):
    """Before: --num-heads 6 and 12 shared a run folder, an --init Hugging Face name was hashed by name,
    thread count and torch version were left out, a moved data folder or renamed aux file was another run."""
    from m2pt_core.experiment import RunRequest, request_spec, run_id
    aux = load_aux(create_model("test", "audio", 3))
    init = tmp_path / "init.safetensors"
    init.write_bytes(b"weights one")
    data = {"kind": "folder", "name": "/home/me/data/sounds", "size": 60, "seed": 0, "fingerprint": "abc"}

    def rid(data=data, **kw):
        req = dict(target_dataset="x", arm="m2pt", aux="aux.safetensors", source=aux, seed=0, size="test",
                   config=TrainConfig(epochs=1), lambda_init=0.0, out_dir=tmp_path, name="m2pt-aux",
                   init=str(init), num_heads=6)
        return run_id(request_spec(RunRequest(**{**req, **kw}), data))

    base = rid()
    assert rid(num_heads=12) != base
    assert rid(data={**data, "name": "/mnt/moved/sounds"}) == base                  # same files elsewhere
    assert rid(data={**data, "fingerprint": "abd"}) != base                          # other files
    assert rid(aux="renamed copy.safetensors", name="m2pt-renamed") == base         # same W' by content
    copy = tmp_path / "elsewhere.safetensors"
    copy.write_bytes(init.read_bytes())
    assert rid(init=str(copy)) == base
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert rid() != base
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert rid() != base
    monkeypatch.undo()
    # a Hugging Face name is hashed by the content its cached file holds
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snap = tmp_path / "hub" / "models--timm--vit_x.in1k" / "snapshots" / "0"
    snap.mkdir(parents=True)
    (snap / "model.safetensors").write_bytes(b"weights one")
    assert rid(init="timm/vit_x.in1k") == base
    (snap / "model.safetensors").write_bytes(b"weights two")
    assert rid(init="timm/vit_x.in1k") != base


def test_summaries_with_a_baseline_listed_twice_or_two_baselines_of_one_seed():
    """Was InvalidIndexError in both summaries."""
    import pandas as pd
    import pytest
    from m2pt_core.ablation import arm_deltas
    from m2pt_core.errors import M2PTError
    rows = [{"arm": "baseline", "aux": "none", "seed": s, "test_acc": a, "test_loss": 0.5, "test_n": 10,
             "run_id": f"b{s}", "lam_abs_mean": None} for s, a in enumerate([0.8, 0.9])]
    rows += [{"arm": "m2pt", "aux": "pc", "seed": s, "test_acc": a + 0.01, "test_loss": 0.4, "test_n": 10,
              "run_id": f"m{s}", "lam_abs_mean": 0.1} for s, a in enumerate([0.8, 0.9])]
    once = pd.DataFrame(rows)
    twice = pd.concat([once, once[once.arm == "baseline"]], ignore_index=True)   # two experiments' results
    a, b = summarize(once.reindex(columns=RESULT_COLUMNS)), summarize(twice.reindex(columns=RESULT_COLUMNS))
    assert b.delta_vs_baseline_mean.tolist() == a.delta_vs_baseline_mean.tolist()
    assert arm_deltas(twice).delta_acc_mean.tolist() == arm_deltas(once).delta_acc_mean.tolist()
    other = pd.concat([once, pd.DataFrame([{**rows[0], "run_id": "b0-other-recipe", "test_acc": 0.7}])], ignore_index=True)
    for fn in (summarize, arm_deltas):
        with pytest.raises(M2PTError, match=r"2 different baseline runs share seed\(s\) \[0\] \(b0, b0-other-recipe\)"):
            fn(other)
