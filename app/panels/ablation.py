"""Ablation tab: which layers / components benefit when trained with a pathway (bundled results),
and a small ablation launched from here with progress and a Stop that keeps finished arms."""
from __future__ import annotations

import time
from types import SimpleNamespace

import gradio as gr

from m2pt_core.data import list_datasets
from m2pt_core.explorer.ablation import (LAUNCH_BY, AblationRequest, bundled_choices, bundled_views, get_job,
                                         start_job, stop_job, views)
from m2pt_core.explorer.jobs import JobProgress, eta_line
from m2pt_core.explorer.session import NO_AUX

from ..common import AppContext, guard

NOTE = ("**Trained ablations**: one training run per pathway subset (one layer, one component, the first / last k "
        "blocks, the auxiliary's blocks reversed or shuffled), paired with the baseline of the same seed (same "
        "initialisation and data order). Δ is test accuracy (or loss) minus the baseline's, averaged over seeds with a "
        "95% t-interval; grey cells / hollow points cannot be told apart from 0, and \"< X\" says no effect larger than X "
        "points (the minimum detectable effect of the seeds that were run). A calibrated ablation puts a **positive "
        "control** (an auxiliary of the target's own modality, trained on other items) and a **random control** "
        "(independent random W' of the same norms) beside the cross-modal auxiliary, on one colour scale. "
        "The first-order estimate (Σ|∂L/∂λ| at λ = 0 on the trained baseline, one backward pass) is compared by rank (Spearman ρ).")
LAUNCH_NOTE = ("A small ablation on CPU: one seed of the component arms (6 runs) of 600 items × 2 epochs takes a few "
               "minutes. **Stop** ends the current run; finished arms are kept and shown.")


def build(ctx: AppContext) -> None:
    gr.Markdown(NOTE)
    choices = bundled_choices()
    with gr.Row():
        which = gr.Dropdown(label="Bundled ablation (target ← auxiliary)", choices=choices,
                            value=choices[0][1] if choices else None)
        metric = gr.Radio(["acc", "loss"], value="acc", label="Δ of", info="test accuracy (points) or test loss (nats)")
    first = bundled_views(choices[0][1]) if choices else None     # drawn once, so the tab opens on a result
    # The calibrated view first: what a real effect looks like, and where the cross-modal arms fall.
    controls = gr.Plot(value=first and first["controls"], label="Positive control · cross-modal · random control")
    summary = gr.Markdown(first["summary"] if first else "No bundled ablation found in assets/ablations.",
                          label="ablation summary")
    with gr.Row():
        heatmap = gr.Plot(value=first and first["heatmap"], label="Layer × component")
        curves = gr.Plot(value=first and first["curves"], label="Depth / order / controls")
    estimate = gr.Plot(value=first and first["estimate"], label="First-order estimate vs trained")

    @guard
    def show(name, metric_name):
        if not name:
            return "No bundled ablation found in assets/ablations.", None, None, None, None
        v = bundled_views(name, metric_name)
        return v["summary"], v["controls"], v["heatmap"], v["curves"], v["estimate"]

    outs = [summary, controls, heatmap, curves, estimate]
    which.change(show, [which, metric], outs, api_name="ablation_show")
    metric.change(show, [which, metric], outs, api_visibility="private")
    ctx.c["ablation_show"] = (show, [which, metric], outs)

    ui = _launch_layout(ctx)

    @guard
    def launch(state, dataset_name, aux_name, by_name, n_seeds, n_epochs, n_items, progress=gr.Progress()):
        yield from _launch(ctx, state, dataset_name, aux_name, by_name, n_seeds, n_epochs, n_items, progress)

    ui.start.click(launch, [ctx.state, ui.dataset, ui.aux, ui.by, ui.seeds, ui.epochs, ui.items],
                   [ctx.state, ui.job_id, ui.status, ui.run_summary, ui.run_heatmap, ui.run_curves],
                   api_name="ablation_run")
    ui.stop.click(stop_job, [ui.job_id], [ui.status], api_name="ablation_stop")


def _launch_layout(ctx: AppContext) -> SimpleNamespace:
    """The "Run a small ablation" accordion."""
    ui = SimpleNamespace()
    with gr.Accordion("Run a small ablation", open=False):
        gr.Markdown(LAUNCH_NOTE)
        d = AblationRequest()
        with gr.Row():
            ui.dataset = gr.Dropdown(label="Target dataset", choices=list_datasets(), value=d.dataset)
            ui.aux = gr.Dropdown(label="Auxiliary model", choices=ctx.catalog.aux_names(),
                                 value=d.aux if d.aux in ctx.catalog.aux_names() else None)
            ui.by = gr.Dropdown(label="Arms (--by)", choices=list(LAUNCH_BY), value=d.by)
        with gr.Row():
            ui.seeds = gr.Slider(1, 3, value=d.seeds, step=1, label="Seeds")
            ui.epochs = gr.Slider(1, 5, value=d.epochs, step=1, label="Epochs")
            ui.items = gr.Slider(200, 3000, value=d.data_size, step=100, label="Subset size (items, all splits)")
        with gr.Row():
            ui.start = gr.Button("Run ablation", variant="primary")
            ui.stop = gr.Button("Stop", variant="stop")
        ui.job_id = gr.State(None)
        ui.status = gr.Markdown(label="ablation status")
        ui.run_summary = gr.Markdown(label="ablation run summary")
        with gr.Row():
            ui.run_heatmap = gr.Plot(label="Layer × component")
            ui.run_curves = gr.Plot(label="Depth / order / controls")
    return ui


def _launch(ctx: AppContext, state, dataset_name, aux_name, by_name, n_seeds, n_epochs, n_items, progress):
    """Start an ablation job for the session and follow it: (state, job id, status, summary, heatmap, curves)."""
    session = ctx.session(state)
    if not aux_name or aux_name == NO_AUX:
        raise gr.Error("Choose an auxiliary model.")
    req = AblationRequest(dataset=dataset_name, aux=aux_name, by=by_name, seeds=int(n_seeds),
                          epochs=int(n_epochs), data_size=int(n_items), size=session.aux_size(aux_name))
    req.check()
    jid = start_job(req, session.aux_weights(aux_name))
    job = get_job(jid)
    yield session, jid, f"Starting {job.total_runs} runs…", "", None, None
    clock = JobProgress(f"Ablation, {job.total_runs} runs")      # time left from the steps done
    last = 0.0
    while True:
        ev = job.events.get()
        if ev is None:
            break
        if ev.get("event") == "step" and time.perf_counter() - last > 2:
            last = time.perf_counter()
            clock((ev["run"] + ev["global_step"] / max(ev["total_steps"], 1)) / ev["runs"])
            progress(clock.fraction, desc=f"run {ev['run'] + 1}/{ev['runs']}: {ev['arm']} seed {ev['seed']} · "
                     f"{eta_line(clock.fraction, clock.elapsed)}")
            yield (session, jid, f"Run {ev['run'] + 1}/{ev['runs']}: **{ev['arm']}** seed {ev['seed']}, epoch "
                   f"{ev['epoch']}/{ev['epochs']}, loss {ev['loss']:.3f} · {clock.line()}",
                   gr.update(), gr.update(), gr.update())
        elif ev.get("event") == "run_done":
            v = views(job.table, job.depth)
            yield session, jid, job.status(), v["summary"], v["heatmap"], v["curves"]
    job.wait()
    if job.error is not None:
        raise job.error
    v = views(job.table, job.depth) if len(job.table) else {"summary": "", "heatmap": None, "curves": None}
    yield session, jid, job.status(), v["summary"], v["heatmap"], v["curves"]
