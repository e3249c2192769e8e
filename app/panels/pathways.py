"""Pathways tab: learned λ per layer and component, live re-scoring as λ move, knockout map, λ sweeps."""
from __future__ import annotations

import gradio as gr

from m2pt_core import figures
from m2pt_core.explorer.jobs import JobStopped, duration

from ..common import AppContext, clear_toasts, clear_toasts_on, guard

HELP = ("Move a λ (one pathway, or all four of a layer) or edit the table: the validation accuracy is "
        "re-computed at once, re-running only the blocks from the changed layer on. Changes stay in your "
        "session only. **Reset** restores the learned λ. Every difference is paired on the same items, with "
        "its 95% interval; grey cells and hollow points are not distinguishable from 0. The test split is "
        "scored only when you ask.")
LAMBDA_TITLE = "λ per layer and component (as set now)"
TABLE_DECIMALS = 6
SLIDER_DECIMALS = 4     # the number box shows λ to 4 decimals; that rounded value stands for the λ in force


def _slider_range(session, key: str) -> dict:
    """±4× the largest learned |λ| (at least ±0.25), never beyond the library's bound."""
    learned = max((abs(v) for v in session.learned.values()), default=0.0)
    value = session.current_lambda(key)
    bound = min(session.catalog.lambda_bound, max(0.25, round(4 * learned, 2), abs(value)))
    return dict(minimum=-bound, maximum=bound, step=bound / 200, value=round(value, SLIDER_DECIMALS))


def _is_shown(now: float, value: float) -> bool:
    """``value`` is the λ in force as the slider shows it (exact, or rounded to SLIDER_DECIMALS)."""
    return abs(now - value) <= 1e-7 * max(1.0, abs(value)) or round(now, SLIDER_DECIMALS) == value


def view(session):
    """Heatmap, table, key choices and slider for the open model (or an explanation)."""
    if session is None or session.model is None or not session.pathway_names():
        msg = ("Open a target with an auxiliary model in the Models tab to see its pathways."
               if session is None or session.model is None else
               f"{session.target_name} has no pathways: choose an auxiliary in the Models tab.")
        return (figures.empty("", msg), None, gr.update(choices=[], value=None), gr.update(), msg)
    keys = session.lambda_keys()
    frame = session.lambda_frame()
    score = session.last.markdown() if session.last is not None else "No validation set for this model."
    return (figures.lambda_heatmap(session.lambda_long(), title=LAMBDA_TITLE), frame.round(TABLE_DECIMALS), gr.update(choices=keys, value=keys[0]),
            gr.update(**_slider_range(session, keys[0]), label=f"λ · {keys[0]} (learned {session.learned_lambda(keys[0]):.4f})"),
            score)


def build(ctx: AppContext) -> None:
    gr.Markdown(HELP)
    score = gr.Markdown("Open a model in the Models tab.", label="score", elem_id="lambda-score")
    with gr.Row():
        with gr.Column(scale=3):
            heatmap = gr.Plot(label="λ heatmap")
        with gr.Column(scale=2):
            key = gr.Dropdown(label="Pathway", choices=[], info="A whole layer, or one pathway", allow_custom_value=True,
                              elem_id="lambda-key")
            # The API accepts any λ the library does (±bound); the page narrows the range per pathway.
            bound = ctx.catalog.lambda_bound
            slider = gr.Slider(-bound, bound, value=0.0, step=0.005, label="λ", elem_id="lambda-slider", buttons=[])
            with gr.Row():
                reset = gr.Button("Reset to learned λ")
    table = gr.Dataframe(label="λ values (editable; press Apply)", interactive=True, max_height=320)
    apply = gr.Button("Apply table")
    with gr.Row():
        knock_btn = gr.Button("Compute knockout map", variant="primary")
        sweep_btn = gr.Button("Compute λ sweeps", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    job_md = gr.Markdown(label="long action status", elem_id="pathways-job")
    knock_plot = gr.Plot(label="Knockout map")
    sweep_plot = gr.Plot(label="λ sweep curves")
    with gr.Row():
        whole_btn = gr.Button("Score λ as set on the whole validation split (on request)")
        test_btn = gr.Button("Score on the test split (on request)")
    test_md = gr.Markdown(label="split report", elem_id="split-report")

    view_outputs = [heatmap, table, key, slider, score]

    @guard
    def refresh(state):
        return view(state)

    @guard
    def on_key(state, k):
        session = ctx.session(state)
        if not k or session.model is None:
            return gr.update()
        return gr.update(**_slider_range(session, k), label=f"λ · {k} (learned {session.learned_lambda(k):.4f})")

    @guard
    def set_lambda(state, k, value):
        session = ctx.session(state)
        if not k:
            raise gr.Error("Choose a pathway first.")
        s = session.set_lambda(k, value)
        return session, s.markdown(), figures.lambda_heatmap(session.lambda_long(), title=LAMBDA_TITLE), session.lambda_frame().round(TABLE_DECIMALS)

    @guard
    def set_lambda_quiet(state, k, value):
        """.change also fires when the server itself set the slider (a model opened, another
        pathway chosen, Reset): nothing to do when the value is the one already in force."""
        session = ctx.session(state)
        if not k or session.model is None or not session.pathway_names() or value is None:
            return session, gr.update(), gr.update(), gr.update()
        if k in session.lambda_keys() and _is_shown(session.current_lambda(k), float(value)):
            return session, gr.update(), gr.update(), gr.update()
        return set_lambda(session, k, value)

    @guard
    def set_table(state, frame):
        session = ctx.session(state)
        s = session.set_lambda_frame(frame, decimals=TABLE_DECIMALS)
        return session, s.markdown(), figures.lambda_heatmap(session.lambda_long(), title=LAMBDA_TITLE), session.lambda_frame().round(TABLE_DECIMALS)

    @guard
    def reset_lambdas(state, k):
        session = ctx.session(state)
        s = session.reset_lambdas()
        slider_upd = gr.update(value=round(session.current_lambda(k), SLIDER_DECIMALS)) if k else gr.update()
        return (session, s.markdown(), figures.lambda_heatmap(session.lambda_long(), title=LAMBDA_TITLE),
                session.lambda_frame().round(TABLE_DECIMALS), slider_upd)

    def job(session, what, progress):
        """Progress bar text with the time elapsed and left; the Stop button ends it (jobs.py)."""
        n = f"{len(session.data.y)} items" if session.data is not None else "no items"
        return session.job(f"{what} ({n})", lambda f, line: progress(f, desc=line))

    @guard
    def knockout(state, progress=gr.Progress()):
        session = ctx.session(state)
        session.require_pathways()
        run = job(session, "Knockout map", progress)
        try:
            table = session.knockout(run)
        except JobStopped as e:
            return figures.empty("Knockout map", str(e)), str(e)
        return figures.knockout_heatmap(table, split=session.sweep_reference()["split"]), run.done_line()

    @guard
    def sweep(state, progress=gr.Progress()):
        session = ctx.session(state)
        session.require_pathways()
        layers = sorted({int(n.split(".")[1]) for n in session.pathway_names()})   # names: blocks.<i>.<component>
        run = job(session, "λ sweep", progress)
        rows = None
        for done, total, rows in session.sweep(progress=run):
            yield (figures.sweep_curves(rows, all_layers=layers, **session.sweep_reference()),
                   f"λ sweep: layer {done} of {total} done · {run.line()}")
        if session.sweep_stop.is_set():       # Stop: the last figure says which layers were not swept
            yield ((figures.sweep_curves(rows, all_layers=layers, stopped=True, **session.sweep_reference())
                    if rows is not None else figures.empty("λ sweep", "stopped before the first layer")),
                   f"λ sweep stopped after {duration(run.elapsed)}.")
        else:
            yield gr.update(), run.done_line()

    def stop_jobs(state):
        """The running knockout, sweep or whole-split score stops within one block and says so."""
        if state is not None:
            state.sweep_stop.set()

    def scored(state, progress, which: str):
        session = ctx.session(state)
        split = "test" if which == "test" else "whole validation"
        run = session.job(f"Scoring the {split} split", lambda f, line: progress(f, desc=line))
        try:
            md = session.score_test(run) if which == "test" else session.score_whole_split(run)
        except JobStopped as e:
            return str(e), str(e)
        return md, run.done_line()

    @guard
    def score_test(state, progress=gr.Progress()):
        return scored(state, progress, "test")

    @guard
    def score_whole(state, progress=gr.Progress()):
        return scored(state, progress, "val")

    ctx.c["pathways_refresh"] = (refresh, [ctx.state], view_outputs)
    key.input(on_key, [ctx.state, key], [slider], api_visibility="private")
    # .input fires for mouse drags, arrow keys and typing in the number box (.release only for the
    # mouse). .change also catches what the page does by itself (the number box clamps a typed
    # value on blur; a new pathway's value): the λ in the session is always the one shown, and a
    # repeated value is a cached score. always_last: while one re-score runs, only the newest waits.
    lam_io = dict(inputs=[ctx.state, key, slider], outputs=[ctx.state, score, heatmap, table],
                  show_progress="minimal", trigger_mode="always_last")
    for trigger in (slider.input, slider.change, apply.click, reset.click):
        clear_toasts_on(trigger)
    clear_toasts(slider.input(set_lambda, api_name="set_lambda", **lam_io))
    clear_toasts(slider.change(set_lambda_quiet, api_visibility="private", **lam_io))
    clear_toasts(apply.click(set_table, [ctx.state, table], [ctx.state, score, heatmap, table],
                             api_name="set_lambda_table"))
    clear_toasts(reset.click(reset_lambdas, [ctx.state, key], [ctx.state, score, heatmap, table, slider],
                             api_name="reset_lambdas"))
    knock_btn.click(knockout, [ctx.state], [knock_plot, job_md], api_name="knockout")
    sweep_btn.click(sweep, [ctx.state], [sweep_plot, job_md], api_name="sweep")
    # Not a cancel: the job itself sees the Stop within one block, returns what it has and says so.
    stop.click(stop_jobs, [ctx.state], None, queue=False, api_visibility="private")
    test_btn.click(score_test, [ctx.state], [test_md, job_md], api_name="score_test")
    whole_btn.click(score_whole, [ctx.state], [test_md, job_md], api_name="score_whole_split")
