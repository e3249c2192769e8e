"""Ablation tab: its logic (m2pt_core.explorer.ablation) on a tiny zoo, the figures, bundled results."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m2pt_core.ablation.bundled import bundled_names, load_bundled, read_ablation  # noqa: E402
from m2pt_core.errors import M2PTError  # noqa: E402
from m2pt_core.explorer import Catalog  # noqa: E402
from m2pt_core.explorer.ablation import (AblationRequest, bundled_choices, bundled_views, get_job, start_job,  # noqa: E402
                                         stop_job, views)
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo  # noqa: E402
from m2pt_core.figures.ablation import ablation_curves, ablation_heatmap, estimate_scatter  # noqa: E402
from m2pt_core.figures._style import NOT_DISTINGUISHABLE  # noqa: E402

AUX = "audio-sounds"


@pytest.fixture(scope="module")
def catalog():
    return Catalog(cached_tiny_zoo())


def _request(**kw):
    return AblationRequest(**{"dataset": "digits", "aux": AUX, "by": "component", "seeds": 1, "epochs": 2,
                              "data_size": 200, "size": "test", **kw})


def test_launch_runs_every_arm_and_stop_keeps_finished_arms(catalog, tmp_path):
    aux = catalog.load_aux(AUX)
    jid = start_job(_request(), aux, tmp_path / "full")
    job = get_job(jid).wait(300)
    assert job.error is None and not job.stopped
    assert job.table.arm.tolist() == ["baseline", "all", "component=qkv", "component=proj", "component=fc1",
                                      "component=fc2"]
    assert job.status().startswith("Done: 6 of 6")
    v = views(job.table, job.depth)
    assert len(v["deltas"]) == 5 and "One seed" in v["summary"] and v["heatmap"].data

    jid = start_job(_request(), aux, tmp_path / "stopped")
    job = get_job(jid)
    while True:                                   # Stop during the third run
        ev = job.events.get(timeout=300)
        assert ev is not None, "the ablation ended before it could be stopped"
        if ev.get("event") == "step" and ev["run"] == 2:
            assert stop_job(jid).startswith("Stopping")
            break
    job.wait(300)
    assert job.stopped and job.error is None
    assert 2 <= len(job.table) < 6 and job.table.arm.tolist()[:2] == ["baseline", "all"]
    assert job.status().startswith(f"Stopped after {len(job.table)} of 6 runs") and "kept" in job.status()
    assert stop_job(jid).startswith("Stopped after") and "nothing to stop" in stop_job(jid)
    # same settings again: the finished arms are reused (resumed), the rest trained
    again = get_job(start_job(_request(), aux, tmp_path / "stopped")).wait(300)
    assert len(again.table) == 6
    assert again.table.test_acc.iloc[:len(job.table)].tolist() == job.table.test_acc.tolist()
    with pytest.raises(M2PTError, match="runs is more than"):
        _request(by="order", seeds=5, size="demo").check()


def _deltas():
    rows = [
        ("all", "all", None, None, None, 0.02, 0.01, 0.03),
        ("layer=0", "layer", 0, None, None, 0.05, 0.02, 0.08),
        ("layer=1", "layer", 1, None, None, 0.002, -0.01, 0.014),      # one item's worth: grey
        ("component=attn.qkv", "component", None, "attn.qkv", None, -0.03, -0.05, -0.01),
        ("prefix=1", "depth-prefix", None, None, 1, 0.01, -0.02, 0.04),
        ("suffix=1", "depth-suffix", None, None, 1, 0.03, 0.01, 0.05),
        ("order=reversed", "order", None, None, None, -0.01, -0.04, 0.02),
    ]
    d = pd.DataFrame(rows, columns=["arm", "by", "layer", "component", "k", "delta_acc_mean", "delta_acc_lo",
                                    "delta_acc_hi"])
    return d.assign(delta_loss_mean=0.0, delta_loss_lo=-0.1, delta_loss_hi=0.1, n_seeds=3, test_n=30)


def test_heatmap_grid_greys_cells_whose_interval_contains_zero():
    fig = ablation_heatmap(_deltas(), depth=2)
    main, grey = fig.data
    assert list(main.y) == ["0", "1", "all"] and list(main.x) == ["attn.qkv", "all"]
    z = np.array(main.z, dtype=float)
    assert z[0, 1] == pytest.approx(5.0) and z[2, 0] == pytest.approx(-3.0) and z[2, 1] == pytest.approx(2.0)
    assert np.isnan(z[1, 1]) and np.array(grey.z, dtype=float)[1, 1] == 0.0     # layer=1 greyed out
    assert grey.colorscale[0][1] == NOT_DISTINGUISHABLE and main.zmin == -main.zmax
    assert "n = 30" in fig.layout.title.text and "3 seeds" in fig.layout.title.text
    only_all = ablation_heatmap(_deltas().iloc[:1], depth=2)
    assert not only_all.data and "no layer / component arms" in only_all.layout.annotations[0].text


def test_curves_and_estimate_scatter():
    d = _deltas()
    fig = ablation_curves(d, depth=2)
    prefix = next(t for t in fig.data if t.name == "first k blocks")
    assert list(prefix.x) == [0, 1, 2] and prefix.y[2] == pytest.approx(2.0)        # k = depth is "all"
    assert prefix.marker.color[1] == "white"                                           # prefix=1 contains 0
    other = next(t for t in fig.data if t.name == "arm")
    assert "order=reversed" in list(other.x)
    est = pd.DataFrame({"arm": ["all", "layer=0", "layer=1"], "gain": [3.0, 2.0, 1.0]})
    sc = estimate_scatter(d, est, {"spearman_acc": 0.5, "n_arms": 3})
    assert "ρ = +0.50" in sc.layout.title.text and len(sc.data[0].x) == 3
    # Neighbouring estimates label in different directions (one shared position piled the names up).
    positions = sc.data[0].textposition
    assert isinstance(positions, (list, tuple)) and len(positions) == 3, positions
    by_x = [pos for _, pos in sorted(zip(sc.data[0].x, positions))]
    assert len(set(by_x)) == 3, by_x
    two = estimate_scatter(d, est.iloc[:2], {"spearman_acc": float("nan"), "n_arms": 2})
    assert "no Spearman ρ: 2 arm(s)" in two.layout.title.text


def test_curves_show_only_the_panels_the_ablation_has_arms_for():
    """No empty "first / last k blocks" panel: an ablation without depth arms shows its whole-model
    arms alone, and one with neither says where its arms are."""
    d = _deltas()
    no_depth = ablation_curves(d[~d["by"].isin(["depth-prefix", "depth-suffix"])], depth=2)
    titles = [a.text for a in no_depth.layout.annotations]
    assert "whole-model arms" in titles and "first / last k blocks" not in titles, titles
    assert [t.name for t in no_depth.data] == ["arm"] and "xaxis2" not in no_depth.layout.to_plotly_json()
    neither = ablation_curves(d[d["by"].isin(["layer", "component", "layer-component"])], depth=2)
    assert not neither.data and "layer × component" in neither.layout.annotations[0].text


def test_bundled_results_read_and_render(tmp_path, monkeypatch):
    with pytest.raises(M2PTError, match="no ablation result"):
        read_ablation(tmp_path)
    monkeypatch.setenv("M2PT_ABLATIONS_DIR", str(tmp_path))
    assert bundled_names() == [] and bundled_choices() == []
    for name in bundled_names(Path(__file__).resolve().parents[1] / "assets" / "ablations"):
        res = load_bundled(name, Path(__file__).resolve().parents[1] / "assets" / "ablations")
        assert len(res.deltas) and res.command.startswith("m2pt ablate")
        v = bundled_views(name, root=Path(__file__).resolve().parents[1] / "assets" / "ablations")
        assert v["heatmap"].data or v["curves"].data


def test_app_has_the_ablation_tab(catalog):
    from app.main import build_app
    demo = build_app(catalog)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"ablation_show", "ablation_run", "ablation_stop"} <= names


def test_results_page_quotes_the_bundled_ablation():
    """docs/results.md's table is the bundled result, not a copy that drifted."""
    root = Path(__file__).resolve().parents[1]
    if "mnist5k-audio" not in bundled_names(root / "assets" / "ablations"):
        pytest.skip("no bundled mnist5k-audio ablation")
    page = (root / "docs" / "results.md").read_text().replace("−", "-")
    for r in load_bundled("mnist5k-audio", root / "assets" / "ablations").deltas.itertuples():
        row = f"| {r.arm} | {100 * r.delta_acc_mean:+.1f} [{100 * r.delta_acc_lo:+.1f}, {100 * r.delta_acc_hi:+.1f}] |"
        assert row in page, row


def test_launched_tab_runs_and_stops_through_the_client(catalog, tmp_path, monkeypatch):
    """The launched dashboard: a bundled result renders; a small ablation runs to "Done"; a Stop
    during a longer one ends it with a message that says it stopped and kept the finished arms."""
    import socket
    import time
    gradio_client = pytest.importorskip("gradio_client")
    from app.main import build_app, launch
    monkeypatch.setenv("M2PT_DASHBOARD_ABLATIONS", str(tmp_path / "runs"))
    demo = build_app(catalog)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        names = bundled_names()
        if names:
            summary = client.predict(names[0], "acc", api_name="/ablation_show")[0]
            assert "t-interval" in summary
        status, summary, *_ = client.predict("digits", AUX, "all", 1, 1, 200, api_name="/ablation_run")
        assert status.startswith("Done: 2 of 2 runs") and "| all |" in summary
        job = client.submit("digits", AUX, "component", 1, 3, 400, api_name="/ablation_run")
        deadline = time.time() + 120
        while not job.outputs() and time.time() < deadline:    # the first update: the job has started
            time.sleep(0.05)
        assert client.predict(api_name="/ablation_stop").startswith("Stopping")
        final = job.result(timeout=300)
        assert final[0].startswith("Stopped after") and "kept" in final[0], final[0]
    finally:
        demo.close()


def test_stop_with_nothing_running_keeps_the_finished_status(monkeypatch):
    """Stop after an ablation finished must not erase "Done: 6 of 6 runs"."""
    from types import SimpleNamespace
    import m2pt_core.explorer.ablation as mod
    done = SimpleNamespace(running=False, status=lambda: "Done: 6 of 6 runs.")
    monkeypatch.setitem(mod._JOBS, "finished-job", done)
    msg = mod.stop_job("finished-job")
    assert msg.startswith("Done: 6 of 6 runs.") and "nothing to stop" in msg
    assert mod.stop_job(None) == "No ablation is running."


def _controlled_deltas():
    """A calibrated by-layer ablation (2 blocks): cross-modal, random and positive arms."""
    rows = []
    for kind, prefix, by_all, shift in (("m2pt", "", "all", 0.0), ("random", "random", "control", -0.01),
                                        ("positive", "positive", "control", 0.10)):
        name_all = "all" if kind == "m2pt" else prefix
        rows.append((name_all, by_all, None, kind, shift + 0.005, shift - 0.02, shift + 0.03, 0.025))
        for layer in (0, 1):
            arm = f"layer={layer}" if kind == "m2pt" else f"{prefix}:layer={layer}"
            rows.append((arm, "layer", layer, kind, shift + 0.01 * layer, shift - 0.02, shift + 0.02 + 0.01 * layer,
                         0.03))
    d = pd.DataFrame(rows, columns=["arm", "by", "layer", "kind", "delta_acc_mean", "delta_acc_lo", "delta_acc_hi",
                                    "delta_acc_mde"])
    d["distinguishable"] = (d.delta_acc_lo > 0) | (d.delta_acc_hi < 0)
    return d.assign(component=None, k=None, delta_loss_mean=0.0, delta_loss_lo=-0.1, delta_loss_hi=0.1, n_seeds=5,
                    test_n=750)


def test_layer_grid_shows_the_cross_modal_arms_not_the_controls_of_the_same_layer():
    """'random:layer=1' has by='layer' and layer=1 like 'layer=1': it must not overwrite that cell."""
    fig = ablation_heatmap(_controlled_deltas(), depth=2)
    cells = np.nansum([np.array(t.z, dtype=float) for t in fig.data if t.name == "distinguishable from 0"], axis=0)
    greys = [t for t in fig.data if t.name != "distinguishable from 0"]
    assert list(fig.data[0].y) == ["0", "1", "all"]
    # every cross-modal arm's interval contains 0: no coloured cell, all three grey (the positive arms are +10)
    assert np.all(cells == 0) and greys and np.sum(np.isfinite(np.array(greys[0].z, dtype=float))) == 3


def test_control_heatmap_puts_the_three_conditions_on_one_scale_with_their_mde():
    from m2pt_core.figures.ablation_controls import control_heatmap
    fig = control_heatmap(_controlled_deltas(), aux_label="audio-sounds")
    main = fig.data[0]
    assert [c.replace("<br>", " ").split(" (")[0] for c in main.x] == ["positive control", "cross-modal", "random control"]
    assert "audio-sounds" in main.x[1] and list(main.y) == ["0", "1", "all"]
    z = np.array(main.z, dtype=float)
    assert z[0, 0] == pytest.approx(10.0) and z[1, 0] == pytest.approx(11.0)     # positive: coloured
    assert np.isnan(z[:, 1]).all() and np.isnan(z[:, 2]).all()                   # cross / random: grey
    grey = fig.data[1]
    assert "(< 3.0)" in grey.text[0][1] and "(< 2.5)" in grey.text[2][2]           # "no effect larger than"
    assert main.zmin == -main.zmax == -10.0                                      # the shared symmetric scale
    assert "750" in fig.layout.title.text and "5 seeds" in fig.layout.title.text
    no_controls = control_heatmap(_deltas().assign(kind="m2pt"))
    assert not no_controls.data and "no control arms" in no_controls.layout.annotations[0].text


def test_summary_states_the_minimum_detectable_effect_and_the_transfer_ratio():
    from m2pt_core.explorer.ablation import summary_markdown
    d = _controlled_deltas()
    transfer = pd.DataFrame([{"arm": "all", "n_seeds": 5, "delta_cross": 0.005, "delta_random": -0.005,
                              "delta_positive": 0.105, "ratio": 0.09, "ratio_lo": -0.1, "ratio_hi": 0.3, "note": ""}])
    md = summary_markdown(d, "t", transfer)
    assert "| detectable (pts) |" in md and "no effect larger than 2.5 pts" in md
    assert "| positive:layer=1 | 5 | +11.00 |" in md and "**distinguishable from 0**" in md
    assert "+0.09 [-0.10, +0.30]" in md and "transfer ratio" in md
    one_seed = summary_markdown(d.assign(n_seeds=1, delta_acc_mde=float("nan"), distinguishable=False))
    assert "one seed: no interval" in one_seed and "not distinguishable from 0" not in one_seed


def test_the_tab_opens_on_the_calibrated_ablation_and_results_md_quotes_it():
    """The bundled calibrated ablation: ≥ 5 seeds, a positive-control cell whose interval excludes 0,
    first in the dropdown, and docs/results.md's table is its numbers (not a copy that drifted)."""
    root = Path(__file__).resolve().parents[1]
    res = load_bundled("mnist5k-calibrated", root / "assets" / "ablations")
    assert res.table.seed.nunique() >= 5
    d = res.deltas
    assert set(d.kind) >= {"m2pt", "random", "positive"}
    assert (d[d.kind == "positive"].distinguishable & (d[d.kind == "positive"].delta_acc_lo > 0)).any()
    assert bundled_choices(root / "assets" / "ablations")[0][1] == "mnist5k-calibrated"
    v = bundled_views("mnist5k-calibrated", root=root / "assets" / "ablations")
    assert v["controls"].data and "transfer ratio" in v["summary"] and "detectable" in v["summary"]
    page = (root / "docs" / "results.md").read_text().replace("−", "-")
    by = d.set_index("arm")

    def cell(arm):
        r = by.loc[arm]
        s = f"{100 * r.delta_acc_mean:+.1f} [{100 * r.delta_acc_lo:+.1f}, {100 * r.delta_acc_hi:+.1f}]"
        return f"**{s}**" if r.distinguishable else f"{s} (< {100 * r.delta_acc_mde:.1f})"
    for label, arm in [("all blocks", "all")] + [(f"block {i}", f"layer={i}") for i in range(6)]:
        pos, rnd = ("positive", "random") if arm == "all" else (f"positive:{arm}", f"random:{arm}")
        row = f"| {label} | {cell(pos)} | {cell(arm)} | {cell(rnd)} |"
        assert row in page, row


def test_a_crowded_scatter_labels_on_hover_and_a_worse_arm_says_so():
    from m2pt_core.explorer.ablation import summary_markdown
    d = _controlled_deltas()                                   # 9 arms
    d = pd.concat([d, d.assign(arm=d.arm + "'")], ignore_index=True)   # 18 arms
    est = pd.DataFrame({"arm": d.arm, "gain": np.linspace(1, 2, len(d)), "pathways": 4})
    sc = estimate_scatter(d, est, {"spearman_acc": 0.1, "n_arms": len(d)})
    assert sc.data[0].mode == "markers" and len(sc.data[0].text) == 18      # names stay on hover
    worse = d.assign(delta_acc_mean=-0.05, delta_acc_lo=-0.08, delta_acc_hi=-0.02, distinguishable=True)
    assert "**distinguishable from 0** (worse)" in summary_markdown(worse.iloc[:1])
