"""The dashboard's session logic (m2pt_core.explorer) and callbacks, called directly."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m2pt_core import create_model, save_checkpoint  # noqa: E402
from m2pt_core.errors import CheckpointError, InputFileError, M2PTError, PathwayMismatchError  # noqa: E402
from m2pt_core.explorer import Catalog, ExplorerSession, compatibility_table, share_copy  # noqa: E402
from m2pt_core.explorer.samples import bundled_samples  # noqa: E402
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo  # noqa: E402
from m2pt_core.figures.inputs import audio_figure, image_figure, pointcloud_figure, video_figure  # noqa: E402
from m2pt_core.pathways import get_lambdas, load_aux  # noqa: E402

TARGET, AUX = "m2pt-digits-audio", "audio-sounds"


@pytest.fixture(scope="module")
def catalog():
    return Catalog(cached_tiny_zoo())


@pytest.fixture
def session(catalog):
    s = ExplorerSession(catalog)
    s.select(TARGET, AUX)
    return s


def test_catalog_lists_zoo_and_default_pair(catalog):
    assert catalog.default_pair() == (TARGET, AUX)
    assert "minilm-l6" in catalog.aux_names() and TARGET not in catalog.aux_names()
    assert catalog.baseline_for(TARGET) == "image-digits"
    assert "test accuracy" in catalog.card(TARGET).as_markdown()


def test_select_scores_learned_and_baseline(session):
    assert session.baseline_name == "image-digits"
    assert session.last.acc == session.learned_acc
    assert session.baseline_acc is not None and 0 <= session.baseline_acc <= 1
    assert len(session.lambda_keys()) == 2 + 8        # two layers + 2 × 4 pathways


def test_set_lambda_rescoring_and_reset(session):
    learned = dict(session.learned)
    s = session.set_lambda("layer 0 · all", 1.0)
    assert s.recomputed_from == 0 and all(get_lambdas(session.model)[n] == 1.0 for n in learned if ".0." in n)
    s = session.set_lambda("blocks.1.mlp.fc2", -0.5)
    assert s.recomputed_from == 1                      # block 0 was not re-run
    r = session.reset_lambdas()
    assert get_lambdas(session.model) == pytest.approx(learned) and r.acc == session.learned_acc


def test_lambda_table_round_trip(session):
    frame = session.lambda_frame()
    frame.loc[0, "attn.qkv"] = 0.25
    session.set_lambda_frame(frame)
    assert get_lambdas(session.model)["blocks.0.attn.qkv"] == pytest.approx(0.25)
    frame = frame.astype(object)
    frame.loc[0, "attn.qkv"] = "abc"
    with pytest.raises(M2PTError, match="must be a number"):
        session.set_lambda_frame(frame)


def test_sessions_share_weights_not_lambda(catalog):
    a, b = ExplorerSession(catalog), ExplorerSession(catalog)
    a.select(TARGET, AUX), b.select(TARGET, AUX)
    qa, qb = a.model.blocks[0].attn.qkv, b.model.blocks[0].attn.qkv
    assert qa.weight is qb.weight and qa.lam is not qb.lam
    a.set_lambda("layer 0 · all", 0.9)
    assert b.current_lambda("layer 0 · all") == pytest.approx(b.learned_lambda("layer 0 · all"))
    assert catalog.load_model(TARGET).blocks[0].attn.qkv.lam_value == pytest.approx(b.learned["blocks.0.attn.qkv"])


def test_share_copy_leaves_source_untouched(catalog):
    src = catalog.load_model(TARGET)
    before = {k: v.clone() for k, v in src.state_dict().items()}
    copy = share_copy(src)
    with torch.no_grad():
        copy.blocks[0].attn.qkv.lam.fill_(5.0)
    assert all(torch.equal(before[k], v) for k, v in src.state_dict().items())


def test_plain_target_gets_pathways_at_zero(catalog):
    s = ExplorerSession(catalog)
    score = s.select("image-digits", AUX)
    assert all(v == 0.0 for v in s.learned.values()) and len(s.learned) == 8
    assert score.acc == pytest.approx(score.baseline_acc)        # λ = 0 is exactly the target
    assert s.sweep_mode() == "absolute"


def test_incompatible_pair_is_explained(catalog):
    s = ExplorerSession(catalog)
    table, summary = s.compatibility("image-digits", "minilm-l6")
    assert not table["match"].any() and "cannot be connected" in summary and s.aux_size("minilm-l6") == "small6"
    assert {"input width differs (32 vs 384)"} <= set(table["why"])
    with pytest.raises(PathwayMismatchError):
        s.select("image-digits", "minilm-l6")


def test_compatibility_table_all_match(catalog):
    model = catalog.load_model("image-digits")
    table = compatibility_table(model, load_aux(catalog.resolve_path(AUX)))
    assert table["match"].all() and len(table) == 8 and set(table["why"]) == {"same shape"}


def test_analysis_views(session):
    ko = session.knockout()
    assert {"layer", "component", "delta_acc"} <= set(ko.columns)
    steps = list(session.sweep(grid=[0.0, 1.0]))
    assert steps[-1][0] == steps[-1][1] == 2 and len(steps[-1][2]) == 4
    assert len(session.weight_stats()) == 8
    metrics, traj = session.training_log()
    assert "val_acc" in metrics.columns and not traj.empty


def test_predict_and_wrong_modality(session, tmp_path):
    from PIL import Image
    import numpy as np
    import soundfile as sf
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "x.png")
    p = session.predict(tmp_path / "x.png", k=3)
    assert p.modality == "image" and set(p.table["model"]) == {"baseline (image-digits)", "M2PT (λ as set)"}
    sf.write(tmp_path / "s.wav", np.sin(np.linspace(0, 400, 16000)).astype("float32"), 16000)
    with pytest.raises(InputFileError, match="This model takes images; s.wav is an audio file") as err:
        session.predict(tmp_path / "s.wav")
    assert "open an audio model" in str(err.value) and "this file is" not in str(err.value)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(InputFileError):
        session.predict(tmp_path / "bad.png")


def test_export_merges_and_verifies(session, tmp_path):
    from m2pt_core import load_checkpoint
    session.set_lambda("layer 1 · all", 0.3)
    r = session.export(tmp_path)
    assert r["max_abs_diff"] < 1e-4 and r["params_merged"] < r["params_with_pathways"]
    merged = load_checkpoint(r["path"])
    assert not [n for n, _ in merged.named_modules() if n.endswith("aux_weight")]
    assert json.loads(Path(r["config_path"]).read_text())["modality"] == "image"
    x = session.data.X[:16]
    with torch.no_grad():
        assert torch.allclose(merged(x), session.model(x), atol=1e-4)


def test_uploaded_and_corrupt_checkpoints(catalog, tmp_path):
    s = ExplorerSession(catalog)
    torch.manual_seed(1)
    model = create_model("test", "audio", 5)
    save_checkpoint(model, tmp_path / "mine.safetensors")
    name = s.add_upload(tmp_path / "mine.safetensors")
    assert name in s.aux_choices() and name in s.target_choices()
    s.select("image-digits", name)                                # a user checkpoint as auxiliary
    assert len(s.pathway_names()) == 8
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        s.add_upload(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError):
        s.add_upload(tmp_path / "missing.safetensors")


def test_errors_without_model(catalog):
    s = ExplorerSession(catalog)
    with pytest.raises(M2PTError, match="No target model"):
        s.set_lambda("layer 0 · all", 0.1)
    s.select("image-digits", "(none)")
    with pytest.raises(M2PTError, match="no pathways"):
        s.knockout()


def test_train_pair_small_and_stoppable(catalog):
    from m2pt_core.explorer import TrainRequest, TrainedPair, train_pair
    aux = catalog.load_aux(AUX)
    req = TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=200, size="test")
    events = []
    res = train_pair(req, aux, events.append)
    assert {e["arm"] for e in events if "arm" in e} == {"baseline", "m2pt"} and "acc" in res["test"]["m2pt"]
    # 200 items leave a validation split too small to measure anything: said before training.
    warning = [e for e in events if e["event"] == "warning"]
    assert len(warning) == 1 and "cannot be told apart" in warning[0]["message"]
    s = ExplorerSession(catalog)
    name = s.add_trained(TrainedPair(s.next_train_label("digits", AUX), "digits", AUX, 200, res["baseline"],
                                     res["m2pt"], res["histories"], res["test"], res["settings"]))
    s.select(name)
    assert s.baseline_name.endswith("baseline") and len(s.pathway_names()) == 8
    assert train_pair(req, aux, should_stop=lambda: True)["stopped"]
    with pytest.raises(M2PTError):
        TrainRequest(epochs=0).check()


def test_train_pair_jobs_in_two_threads_match_each_alone(catalog):
    """Two dashboard jobs at once: each gets what it gets alone, and the process RNG is untouched."""
    import threading
    from m2pt_core.explorer import TrainRequest, train_pair
    aux = catalog.load_aux(AUX)
    req = lambda s: TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=100, size="test", seed=s)  # noqa: E731
    torch.manual_seed(99)
    rng = torch.get_rng_state()
    alone = {s: train_pair(req(s), aux) for s in (0, 1)}
    assert torch.equal(torch.get_rng_state(), rng)
    together, start = {}, threading.Barrier(2)
    jobs = [threading.Thread(target=lambda s=s: (start.wait(), together.__setitem__(s, train_pair(req(s), aux))))
            for s in (0, 1)]
    for t in jobs:
        t.start()
    for t in jobs:
        t.join(120)
    for s in (0, 1):
        for arm in ("baseline", "m2pt"):
            a, b = alone[s][arm].state_dict(), together[s][arm].state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a), (s, arm)


def test_input_figures():
    assert image_figure(torch.rand(1, 28, 28)).data
    assert len(audio_figure(torch.rand(2, 8000), 16000, torch.rand(1, 64, 96)).data) == 2
    assert pointcloud_figure(torch.rand(512, 3)).data[0].type == "scatter3d"
    assert video_figure(torch.rand(1, 8, 32, 32)).data


def test_bundled_samples_index(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "index.json").write_text(json.dumps([{"file": "a.png", "modality": "image", "label": "7"},
                                                     {"file": "gone.wav", "modality": "audio"}]))
    samples = bundled_samples(tmp_path)
    assert [s.label for s in samples] == ["7"] and samples[0].modality == "image"
    # only the layout write_samples writes (a list of entries) is read; others fail loudly
    (tmp_path / "index.json").write_text(json.dumps({"samples": [{"file": "a.png", "modality": "image"}]}))
    with pytest.raises(M2PTError, match="write_samples"):
        bundled_samples(tmp_path)


def test_app_builds_and_callbacks_run(catalog):
    from app.main import build_app, parse_args
    demo = build_app(catalog)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"select_models", "set_lambda", "reset_lambdas", "predict_sample", "knockout", "sweep", "train",
            "export", "set_lambda_table", "add_checkpoint"} <= names
    args = parse_args(["--port", "7999"])
    assert args.port == 7999 and args.host == "127.0.0.1"
    assert math.isfinite(float(pd.Series([1.0]).iloc[0]))


def test_eval_subset_is_class_stratified():
    """mnist5k's splits are ordered by class: the first n items would hold only the low digits."""
    import torch as _torch

    from m2pt_core import create_model
    from m2pt_core.explorer.data import eval_data

    model = create_model("test", "image", 10, dataset="mnist5k")
    data = eval_data(model, max_eval=100)
    assert len(data.y) == 100
    assert _torch.bincount(data.y, minlength=10).tolist() == [10] * 10


def test_train_stop_keeps_finished_epochs_and_resumes(catalog, tmp_path):
    """Stop after the baseline's first epoch: its curve is kept; resume finishes from there."""
    from m2pt_core.explorer import TrainRequest, train_pair
    aux = catalog.load_aux(AUX)
    req = TrainRequest(dataset="digits", aux=AUX, epochs=2, data_size=200, size="test")
    seen = []

    def stop_after_first_epoch() -> bool:
        return any(e["event"] == "epoch" for e in seen)
    res = train_pair(req, aux, seen.append, stop_after_first_epoch, work_dir=tmp_path)
    assert res["stopped"] and res["stopped_arm"] == "baseline"
    assert [r["epoch"] for r in res["histories"]["baseline"]] == [1]
    seen.clear()
    done = train_pair(req, aux, seen.append, work_dir=tmp_path, resume=True)
    assert not done["stopped"]
    assert [r["epoch"] for r in done["histories"]["baseline"]] == [1, 2]
    # The baseline resumed at epoch 2: no step of its first epoch ran again.
    assert all(e["epoch"] == 2 for e in seen if e.get("arm") == "baseline" and e["event"] == "step")


# ── uncertainty: every number with its split, n and interval (issue 13) ───────────────────────

def test_scores_are_paired_with_intervals_and_name_their_split(session):
    s = session.last
    assert s.vs_baseline is not None and s.vs_learned is not None and s.acc_ci is not None
    assert s.vs_baseline.n == s.n == len(session.data.y)
    assert s.vs_learned.delta_acc.estimate == 0.0 and not s.vs_learned.distinguishable   # same model
    md = s.markdown()
    assert "validation items of digits" in md and "95% CI" in md
    assert "one training run each" in md and "distinguishable from 0" in md
    assert s.vs_baseline.delta_acc.estimate == pytest.approx(s.acc - s.baseline_acc)
    moved = session.set_lambda("layer 0 · all", 1.5)
    assert moved.vs_learned.delta_acc.estimate == pytest.approx(moved.acc - session.learned_acc)
    assert {"vs_baseline_lo", "vs_baseline_hi", "vs_baseline_p"} <= set(moved.as_dict())


def test_validation_split_whole_or_a_named_subset():
    from m2pt_core.explorer.data import eval_data
    model = create_model("test", "image", 10, dataset="mnist5k")
    whole = eval_data(model, max_eval=10_000)
    assert not whole.is_subset and whole.describe() == "all 750 validation items of mnist5k"
    part = eval_data(model, max_eval=100)
    assert part.is_subset and part.describe() == "a fixed class-stratified subset of 100 of the 750 validation items of mnist5k"
    test = eval_data(model, max_eval=None, split="test")
    assert len(test.y) == 750 and test.split_name == "test"


def test_sweep_marker_stays_on_learned_lambda_after_an_edit_in_the_session(session):
    from m2pt_core import figures
    learned0 = session.learned_lambda("layer 0 · all")
    session.set_lambda("layer 0 · all", learned0 + 0.8)
    *_, (done, total, rows) = list(session.sweep(grid=[0.0, 1.0]))
    ref = session.sweep_reference()
    assert ref["learned"][0] == pytest.approx(learned0) and ref["learned_score"] == session.learned_acc
    fig = figures.sweep_curves(rows, **ref)
    marks = {t.name: t for t in fig.data}
    assert marks["learned λ"].x[0] == pytest.approx(1.0 * learned0 / (learned0 + 0.8))   # scale mode: × λ now
    assert marks["current λ"].x[0] == 1.0
    assert marks["learned λ"].y[0] == pytest.approx(100 * session.learned_acc)
    assert "validation split" in fig.layout.title.text
    session.reset_lambdas()                                   # back at the learned λ: one set of markers
    *_, (_, _, rows) = list(session.sweep(grid=[0.0, 1.0]))
    assert "current λ" not in [t.name for t in figures.sweep_curves(rows, **session.sweep_reference()).data]


def test_test_split_only_on_request_and_labelled(session):
    md = session.score_test()
    assert md.startswith("**TEST split, on request**") and "test items of digits" in md
    assert "Baseline image-digits" in md and "distinguishable from 0" in md


def test_evidence_for_the_open_pair_or_one_run(session):
    assert "one run" in session.evidence()                       # the tiny zoo pair has no seed-level evidence
    from m2pt_core.explorer.scoring import evidence_markdown
    md = evidence_markdown("mnist5k", "audio-sounds")
    assert "over 3 seeds: Δ = -0.58 ±" in md and "not distinguishable from 0" in md and "docs/results.md" in md


def test_model_cards_say_split_n_classes_and_chance():
    card = Catalog().card("m2pt-mnist5k-audio").as_markdown()     # the bundled zoo
    assert "| test accuracy | 84.27% (95% CI" in card and "test split, 750 items" in card
    assert "| validation accuracy | 84.40% (95% CI" in card and "validation split, 750 items" in card
    assert "| classes | 10: 0, 1, 2" in card and "| chance level | 10.0% (1 of 10 classes)" in card


def test_pretrained_checkpoint_as_target_with_load_report(catalog, tmp_path):
    from m2pt_core.explorer import NO_AUX
    from m2pt_core.explorer.catalog import checkpoint_summary
    from m2pt_core.pretrained.examples import write_example_checkpoint
    path = write_example_checkpoint("mae", tmp_path / "mae_pretrain.pth")
    assert "mae layout, 2 blocks, width 32" in checkpoint_summary(path)
    s = ExplorerSession(catalog, max_eval=64)
    name = s.add_upload(path)                       # an uploaded MAE file: as auxiliary and as target
    t = s.open_pretrained(name, "digits", num_heads=2)
    assert t.name in s.target_choices() and t.model.config.dataset == "digits"
    table = t.report_table()
    assert {"loaded", "left at init", "skipped"} <= set(table["status"])
    assert "pretrained (mae layout)" in s.card(t.name).as_markdown()
    score = s.select(t.name, NO_AUX)
    assert score is not None and score.n == len(s.data.y)
    s.select(t.name, AUX)                           # same size as the tiny zoo: pathways attach at λ = 0
    assert len(s.pathway_names()) == 8
    exported = s.export(tmp_path / "export")        # the pretrained target carries a full config
    assert exported["max_abs_diff"] < 1e-4 and Path(exported["config_path"]).is_file()


def test_deeper_auxiliary_is_explained_and_spread(catalog, tmp_path):
    torch.manual_seed(0)
    save_checkpoint(create_model("test", "audio", 3, depth=4), tmp_path / "deep.safetensors")
    s = ExplorerSession(catalog)
    name = s.add_upload(tmp_path / "deep.safetensors")
    table, summary = s.compatibility("image-digits", name)
    assert not table["match"].all() and "aux_layers='spread'" in summary
    table, summary = s.compatibility("image-digits", name, "spread")
    assert table["match"].all() and list(table["aux_layer"].unique()) == [1, 3]
    s.select("image-digits", name, aux_layers="spread")
    assert s.model.pathway_info["aux_layers"] == {"0": 1, "1": 3}


def test_train_pair_fine_tunes_a_pretrained_target(catalog, tmp_path):
    from m2pt_core.explorer import TrainRequest, train_pair
    from m2pt_core.pretrained.examples import write_example_checkpoint
    init = write_example_checkpoint("timm", tmp_path / "vit.safetensors")
    req = TrainRequest(dataset="digits", aux=AUX, epochs=1, data_size=100, batch_size=32, init=str(init), num_heads=2)
    res = train_pair(req, catalog.load_aux(AUX))
    base, m2pt = res["baseline"], res["m2pt"]
    assert base.config.input.patch_size == 8 and base.init_info["layout"] == "timm"
    assert m2pt.config == base.config and len(m2pt.pathway_info["aux_layers"]) == 2   # same pretrained target, + pathways
    assert res["settings"]["init"] == str(init) and len(res["histories"]["m2pt"]) == 1


def test_lambda_readers_wait_for_a_sweep_in_progress(session, monkeypatch):
    """A sweep moves λ in place while it holds the session lock; readers must not see those values."""
    import threading
    import m2pt_core.explorer.analyses as mod
    from m2pt_core.pathways import pathway_modules
    learned = session.current_lambda("layer 0 · all")
    calls = []

    def fake_sweep(model, X, y, grid=None, layers=(), **kw):
        seen: dict = {}
        mods = [m for n, m in pathway_modules(model).items() if n.startswith(f"blocks.{layers[0]}.")]
        old = [m.lam_value for m in mods]
        with torch.no_grad():
            for m in mods:
                m.lam.fill_(99.0)                    # what a sweep does mid-way
        readers = [threading.Thread(target=lambda: seen.update(cur=session.current_lambda("layer 0 · all"))),
                   threading.Thread(target=lambda: seen.update(frame=session.lambda_frame())),
                   threading.Thread(target=lambda: seen.update(mode=session.sweep_mode()))]
        for t in readers:
            t.start()
        for t in readers:
            t.join(0.3)
        waited = not seen
        with torch.no_grad():
            for m, v in zip(mods, old):
                m.lam.fill_(v)
        calls.append((waited, readers, seen))
        return pd.DataFrame({"layer": [layers[0]], "lam": [0.0], "acc": [0.0]})

    monkeypatch.setattr(mod, "lambda_sweep", fake_sweep)
    list(session.sweep(grid=[0.0], mode="absolute"))
    for waited, readers, seen in calls:
        for t in readers:
            t.join(5)
        assert waited, "a λ reader did not wait for the sweep"
        assert seen["cur"] == pytest.approx(learned) and 99.0 not in seen["frame"].drop(columns="layer").values


def test_card_and_status_agree_on_the_validation_split():
    """The bundled audio-sounds model: its card's validation accuracy is the one the Models tab
    measures on the same (whole) validation split, with the same n (it was 301/444 vs 310/456)."""
    from m2pt_core.explorer import Catalog, ExplorerSession
    from m2pt_core.zoo import zoo_dir
    if not (zoo_dir(None) / "audio-sounds.safetensors").is_file():
        pytest.skip("bundled zoo not built")
    session = ExplorerSession(Catalog())
    session.select("audio-sounds", "(none)")
    card = session.card("audio-sounds")
    assert not session.data.is_subset and card.val_items == len(session.data.y)
    assert card.val_accuracy == session.learned_acc
    assert "67.98%" in card.as_markdown()


def test_stopped_sweep_names_the_layers_it_did_not_sweep(session):
    from m2pt_core import figures
    layers = sorted({int(n.split(".")[1]) for n in session.pathway_names()})
    assert len(layers) >= 2
    sweep = session.sweep(grid=[0.0, 1.0])
    done, total, rows = next(sweep)
    session.sweep_stop.set()                                  # the Stop button, between layers
    assert list(sweep) == [] and done == 1 and total == len(layers)
    title = figures.sweep_curves(rows, all_layers=layers, stopped=True, **session.sweep_reference()).layout.title.text
    missing = ", ".join(map(str, layers[1:]))
    assert f"stopped after 1 of {len(layers)} layers" in title and f"{missing} not swept" in title, title
    *_, (_, _, rows) = list(session.sweep(grid=[0.0, 1.0]))   # a new sweep runs to the end: no note
    assert "not swept" not in figures.sweep_curves(rows, all_layers=layers).layout.title.text


def test_validation_subset_follows_the_budget_measured_on_the_serving_machine():
    """A slower server (a smaller measured budget) scores λ moves on a named stratified subset,
    not the whole split; the budget is measured, and a faster run gives a larger one."""
    from m2pt_core.explorer import Catalog, ExplorerSession
    from m2pt_core.explorer.data import eval_limit, measure_slider_budget
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    measured = measure_slider_budget(seconds=1.0)
    assert 0 < measure_slider_budget(seconds=0.01) < measured
    catalog = Catalog(cached_tiny_zoo())
    model = catalog.load_model("m2pt-digits-audio")
    per_move = model.config.depth * (model.tokenizer.num_tokens + 1) * model.config.embed_dim ** 2
    slow = Catalog(cached_tiny_zoo(), slider_budget=50 * per_move)
    assert eval_limit(model, 750, slow.slider_budget) == 50
    session = ExplorerSession(slow)
    session.select("m2pt-digits-audio")
    assert session.data.is_subset and len(session.data.y) == 50
    assert "subset of 50" in session.data.describe()
