"""Pathways tab: learned λ per layer and component, live re-scoring as λ move, knockout map, λ sweeps."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from m2pt_core import figures
from m2pt_core.errors import M2PTError
from m2pt_core.explorer.jobs import JobStopped, duration
from m2pt_core.explorer.lambda_state import lambda_grid

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
    score = session.last.markdown() if session.last is not None else "No validation set for this model."
    return (*_drawn(session.lambda_long()), gr.update(choices=keys, value=keys[0]),
            gr.update(**_slider_range(session, keys[0]), label=f"λ · {keys[0]} (learned {session.learned_lambda(keys[0]):.4f})"),
            score)


def _scoring_rule(ctx: AppContext) -> str:
    """The rule for what a λ move is scored on, with the budget this server measured at start."""
    from m2pt_core.explorer.data import SLIDER_BUDGET
    items = ctx.catalog.slider_budget * 750 // SLIDER_BUDGET      # SLIDER_BUDGET: 750 demo-size items
    return (f"A move is scored on the whole validation split when re-running it fits about 1 s on this server "
            f"(measured at start: ~{items} items of a demo-size model), else on a fixed class-stratified subset; "
            "the score names which, and how long the move took.")


def _drawn(rows) -> tuple:
    """Heatmap and table of λ (one row per pathway: name, layer, component, lam)."""
    return figures.lambda_heatmap(rows, title=LAMBDA_TITLE), lambda_grid(rows).round(TABLE_DECIMALS)


def _layout(ctx: AppContext) -> SimpleNamespace:
    """The tab's components."""
    ui = SimpleNamespace()
    gr.Markdown(HELP + " " + _scoring_rule(ctx))
    ui.score = gr.Markdown("Open a model in the Models tab.", label="score", elem_id="lambda-score")
    with gr.Row():
        with gr.Column(scale=3):
            ui.heatmap = gr.Plot(label="λ heatmap", elem_id="lambda-heatmap")
        with gr.Column(scale=2):
            ui.key = gr.Dropdown(label="Pathway", choices=[], info="A whole layer, or one pathway",
                                 allow_custom_value=True, elem_id="lambda-key")
            # The API accepts any λ the library does (±bound); the page narrows the range per pathway.
            bound = ctx.catalog.lambda_bound
            ui.slider = gr.Slider(-bound, bound, value=0.0, step=0.005, label="λ", elem_id="lambda-slider", buttons=[])
            with gr.Row():
                ui.reset = gr.Button("Reset to learned λ")
    ui.table = gr.Dataframe(label="λ values (editable; press Apply)", interactive=True, max_height=320,
                            elem_id="lambda-table")
    ui.apply = gr.Button("Apply table")
    with gr.Row():
        ui.knock_btn = gr.Button("Compute knockout map", variant="primary")
        ui.sweep_btn = gr.Button("Compute λ sweeps", variant="primary")
        ui.stop = gr.Button("Stop", variant="stop")
    ui.job_md = gr.Markdown(label="long action status", elem_id="pathways-job")
    ui.knock_plot = gr.Plot(label="Knockout map")
    ui.sweep_plot = gr.Plot(label="λ sweep curves")
    with gr.Row():
        ui.whole_btn = gr.Button("Score λ as set on the whole validation split (on request)")
        ui.test_btn = gr.Button("Score on the test split (on request)")
    ui.test_md = gr.Markdown(label="split report", elem_id="split-report")
    return ui


class _Handlers:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    @guard
    def refresh(self, state):
        return view(state)

    @guard
    def on_key(self, state, k):
        session = self.ctx.session(state)
        if not k or session.model is None:
            return gr.update()
        return gr.update(**_slider_range(session, k), label=f"λ · {k} (learned {session.learned_lambda(k):.4f})")

    def preview(self, state, k, value):
        """During a drag: heatmap and table show the slider's λ at once, before it is scored (a
        move takes up to the latency budget; the page must not show three λ meanwhile)."""
        try:
            return _drawn(state.lambdas.preview(k, float(value)))
        except (M2PTError, AttributeError, TypeError, ValueError):
            return gr.update(), gr.update()        # nothing open, or a value the scoring call refuses

    @guard
    def set_lambda(self, state, k, value):
        session = self.ctx.session(state)
        if not k:
            raise gr.Error("Choose a pathway first.")
        s = session.set_lambda(k, value)
        if not session.lambdas.is_latest():        # a newer move was previewed: keep its heatmap and table
            return (session, f"{s.markdown()}  \n<small>(scored at λ = {float(value):.4g}; the newest λ is "
                    "being scored)</small>", gr.update(), gr.update())
        return session, s.markdown(), *_drawn(session.lambda_long())

    @guard
    def set_lambda_quiet(self, state, k, value):
        """.change also fires when the server itself set the slider (a model opened, another
        pathway chosen, Reset): nothing to do when the value is the one already in force."""
        session = self.ctx.session(state)
        if not k or session.model is None or not session.pathway_names() or value is None:
            return session, gr.update(), gr.update(), gr.update()
        if k in session.lambda_keys() and _is_shown(session.current_lambda(k), float(value)):
            return session, gr.update(), gr.update(), gr.update()
        return self.set_lambda(session, k, value)

    @guard
    def set_table(self, state, frame):
        session = self.ctx.session(state)
        s = session.set_lambda_frame(frame, decimals=TABLE_DECIMALS)
        return session, s.markdown(), *_drawn(session.lambda_long())

    @guard
    def reset_lambdas(self, state, k):
        session = self.ctx.session(state)
        s = session.reset_lambdas()
        slider_upd = gr.update(value=round(session.current_lambda(k), SLIDER_DECIMALS)) if k else gr.update()
        return session, s.markdown(), *_drawn(session.lambda_long()), slider_upd

    @staticmethod
    def _job(session, what, progress):
        """Progress bar text with the time elapsed and left; the Stop button ends it (jobs.py)."""
        n = f"{len(session.data.y)} items" if session.data is not None else "no items"
        return session.job(f"{what} ({n})", lambda f, line: progress(f, desc=line))

    @guard
    def knockout(self, state, progress=gr.Progress()):
        session = self.ctx.session(state)
        session.require_pathways()
        run = self._job(session, "Knockout map", progress)
        try:
            table = session.knockout(run)
        except JobStopped as e:
            return figures.empty("Knockout map", str(e)), str(e)
        return figures.knockout_heatmap(table, split=session.sweep_reference()["split"]), run.done_line()

    @guard
    def sweep(self, state, progress=gr.Progress()):
        session = self.ctx.session(state)
        session.require_pathways()
        layers = sorted({int(n.split(".")[1]) for n in session.pathway_names()})   # names: blocks.<i>.<component>
        run = self._job(session, "λ sweep", progress)
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

    def stop_jobs(self, state):
        """The running knockout, sweep or whole-split score stops within one block and says so."""
        if state is not None:
            state.sweep_stop.set()

    def _scored(self, state, progress, which: str):
        session = self.ctx.session(state)
        split = "test" if which == "test" else "whole validation"
        run = session.job(f"Scoring the {split} split", lambda f, line: progress(f, desc=line))
        try:
            md = session.score_test(run) if which == "test" else session.score_whole_split(run)
        except JobStopped as e:
            return str(e), str(e)
        return md, run.done_line()

    @guard
    def score_test(self, state, progress=gr.Progress()):
        return self._scored(state, progress, "test")

    @guard
    def score_whole(self, state, progress=gr.Progress()):
        return self._scored(state, progress, "val")


def build(ctx: AppContext) -> None:
    ui, h = _layout(ctx), _Handlers(ctx)
    ctx.c["pathways_refresh"] = (h.refresh, [ctx.state], [ui.heatmap, ui.table, ui.key, ui.slider, ui.score])
    ui.key.input(**ctx.touching(h.on_key, [ui.slider]), inputs=[ctx.state, ui.key], api_visibility="private")
    # .input fires for mouse drags, arrow keys and typing in the number box (.release only for the
    # mouse). .change also catches what the page does by itself (the number box clamps a typed
    # value on blur; a new pathway's value): the λ in the session is always the one shown, and a
    # repeated value is a cached score. always_last: while one re-score runs, only the newest waits.
    drawn = [ctx.state, ui.score, ui.heatmap, ui.table]
    lam_io = dict(inputs=[ctx.state, ui.key, ui.slider], outputs=drawn, show_progress="minimal",
                  trigger_mode="always_last")
    for trigger in (ui.slider.input, ui.slider.change, ui.apply.click, ui.reset.click):
        clear_toasts_on(trigger)
    ui.slider.input(**ctx.touching(h.preview, [ui.heatmap, ui.table]), inputs=[ctx.state, ui.key, ui.slider],
                    concurrency_limit=None, trigger_mode="always_last", show_progress="hidden",
                    api_visibility="private")
    clear_toasts(ui.slider.input(h.set_lambda, api_name="set_lambda", **lam_io))
    clear_toasts(ui.slider.change(h.set_lambda_quiet, api_visibility="private", **lam_io))
    clear_toasts(ui.apply.click(h.set_table, [ctx.state, ui.table], drawn, api_name="set_lambda_table"))
    clear_toasts(ui.reset.click(h.reset_lambdas, [ctx.state, ui.key], drawn + [ui.slider], api_name="reset_lambdas"))
    ui.knock_btn.click(**ctx.touching(h.knockout, [ui.knock_plot, ui.job_md]), inputs=[ctx.state], api_name="knockout")
    ui.sweep_btn.click(**ctx.touching(h.sweep, [ui.sweep_plot, ui.job_md]), inputs=[ctx.state], api_name="sweep")
    # Not a cancel: the job itself sees the Stop within one block, returns what it has and says so.
    ui.stop.click(**ctx.touching(h.stop_jobs, None), inputs=[ctx.state], queue=False, api_visibility="private")
    ui.test_btn.click(**ctx.touching(h.score_test, [ui.test_md, ui.job_md]), inputs=[ctx.state], api_name="score_test")
    ui.whole_btn.click(**ctx.touching(h.score_whole, [ui.test_md, ui.job_md]), inputs=[ctx.state],
                       api_name="score_whole_split")
