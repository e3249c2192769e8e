"""The dashboard's session logic (m2pt_core.explorer), called directly: opening pairs, λ edits and
their scores (paired, with intervals, on a named split), the analyses."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m2pt_core import create_model  # noqa: E402
from m2pt_core.errors import M2PTError, PathwayMismatchError  # noqa: E402
from m2pt_core.explorer import Catalog, ExplorerSession, compatibility_table, share_copy  # noqa: E402
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo  # noqa: E402
from m2pt_core.pathways import get_lambdas, load_aux  # noqa: E402
from tests.app_support import AUX, TARGET, catalog, session  # noqa: E402,F401 (fixtures)


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


def test_errors_without_model(catalog):
    s = ExplorerSession(catalog)
    with pytest.raises(M2PTError, match="No target model"):
        s.set_lambda("layer 0 · all", 0.1)
    s.select("image-digits", "(none)")
    with pytest.raises(M2PTError, match="no pathways"):
        s.knockout()


def test_eval_subset_is_class_stratified():
    """mnist5k's splits are ordered by class: the first n items would hold only the low digits."""
    import torch as _torch

    from m2pt_core import create_model
    from m2pt_core.explorer.data import eval_data

    model = create_model("test", "image", 10, dataset="mnist5k")
    data = eval_data(model, max_eval=100)
    assert len(data.y) == 100
    assert _torch.bincount(data.y, minlength=10).tolist() == [10] * 10


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
