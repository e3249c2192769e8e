"""Models tab: choose target and auxiliary, see whether they pair up, parameter counts, model cards."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from m2pt_core.data import list_datasets
from m2pt_core.explorer import COMPAT_COLUMNS, NO_AUX
from m2pt_core.explorer.compatibility import compatibility_summary
from m2pt_core.explorer.pretrained import pretrained_summary
from m2pt_core.pretrained.report import REPORT_COLUMNS
from m2pt_core.pathways import count_parameters, pathway_modules

from m2pt_core.errors import M2PTError

from ..common import AppContext, clear_toasts_on, guard, pct, warn

INTRO = ("Pick a **target** model (the one that is improved) and an **auxiliary** model from another modality. "
         "Each linear layer of the target's blocks becomes y = x(W + λ·W')ᵀ + b with W' from the auxiliary. "
         "Zoo M2PT models come with the auxiliary they were trained with and their learned λ; a plain target "
         "gets fresh pathways at λ = 0. Your own checkpoints (timm, DeiT, MAE, AudioMAE, Point-MAE, VideoMAE, "
         "official M2PT, or a Hugging Face name in the local cache) can be the auxiliary, or the target: "
         "open them as a *pretrained target* for a dataset below.")


def _params_md(session) -> str:
    model = session.model
    if model is None:
        return ""
    total = count_parameters(model)[1]
    paths = pathway_modules(model)
    frozen = sum(m.aux_weight.numel() for m in paths.values() if not m.aux_trainable)
    aux = sum(m.aux_weight.numel() for m in paths.values())
    deployed = total + frozen - aux - len(paths)
    lines = [f"**Parameters** of the open model: {total + frozen:,} while training with pathways "
             f"({len(paths)} pathways: +{aux:,} W' and {len(paths)} λ) → **{deployed:,} after merging**, "
             f"exactly the target architecture."]
    if session.baseline is not None:
        lines.append(f"Baseline {session.baseline_name}: {count_parameters(session.baseline)[1]:,}.")
    return "  \n".join(lines)


def _status_md(session, score) -> str:
    aux = (f"with auxiliary **{session.aux_name}**" if session.aux_name not in (None, NO_AUX)
           else "with no auxiliary (no pathways)")
    parts = [f"Opened **{session.target_name}** {aux}."]
    parts += [f"Note: {n}." for n in session.notes]
    if score is not None:
        vs = f" {score.vs_baseline.describe('Δ')} (one run)." if score.vs_baseline is not None else ""
        acc = (f"with λ as learned {pct(session.learned_acc)}" if pathway_modules(session.model)
               else f"accuracy {pct(session.learned_acc)}")
        base = f"; baseline {session.baseline_name}: {pct(session.baseline_acc)}" if session.baseline_name else ""
        parts.append(f"Validation split, {score.data}: {acc}{base}.{vs}")
        parts.append("\n" + session.evidence())
    else:
        parts.append("This model names no dataset, so accuracy cannot be measured (predictions still work).")
    return "  \n".join(parts)


def _layout(ctx: AppContext) -> SimpleNamespace:
    """The tab's components."""
    ui = SimpleNamespace()
    gr.Markdown(INTRO)
    with gr.Row():
        ui.target = gr.Dropdown(label="Target model", choices=ctx.catalog.target_names(), scale=2, allow_custom_value=True,
                                elem_id="target-dropdown")
        ui.aux = gr.Dropdown(label="Auxiliary model", choices=[NO_AUX] + ctx.catalog.aux_names(), scale=2, allow_custom_value=True,
                             elem_id="aux-dropdown")
        with gr.Column(scale=1, min_width=160):
            ui.spread = gr.Checkbox(label="spread a deeper auxiliary", value=False,
                                    info="pair target block i with an evenly spaced auxiliary block (aux_layers='spread')")
            ui.open_btn = gr.Button("Open", variant="primary")
    ui.status = gr.Markdown(label="status", elem_id="models-status")
    with gr.Accordion("Add a checkpoint (upload, or a path on the server)", open=False):
        with gr.Row():
            ui.upload = gr.File(label="Checkpoint (.safetensors, .pt, .pth, .bin)", file_types=[".safetensors", ".pt", ".pth", ".bin"])
            ui.path = gr.Textbox(label="…or a path", placeholder="/path/to/model.safetensors", elem_id="checkpoint-path")
        with gr.Row():
            ui.add_btn = gr.Button("Add checkpoint")
            ui.pre_dataset = gr.Dropdown(label="…or open it as a pretrained target for dataset",
                                         elem_id="pretrained-dataset",
                                         choices=list_datasets() + ctx.user_data.choices(), value=None, scale=2,
                                         info="a built-in dataset, or your files (then the checkpoint's own input size)")
            ui.pre_heads = gr.Number(label="heads (only for a non-standard width)", value=0, precision=0, minimum=0)
            ui.pre_btn = gr.Button("Open as pretrained target")
        ui.add_status = gr.Markdown(label="added", elem_id="add-status")
        ui.report = gr.Dataframe(headers=REPORT_COLUMNS, label="Load report: every key loaded, reshaped, left at init "
                                 "or skipped", interactive=False, max_height=300, wrap=True)
    ui.compat_md = gr.Markdown(label="compatibility")
    ui.compat = gr.Dataframe(headers=COMPAT_COLUMNS, label="Compatibility, layer by layer and component by component",
                             interactive=False, max_height=360, wrap=True)
    ui.params = gr.Markdown(label="parameters")
    with gr.Row():
        ui.target_card = gr.Markdown(label="target card", elem_id="target-card")
        ui.aux_card = gr.Markdown(label="auxiliary card")
    return ui


class _Handlers:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    @guard
    def on_target(self, state, target_name):
        session = self.ctx.session(state)
        return state if state is not None else session, gr.update(value=session.default_aux(target_name))

    def _cards(self, session, target_name, aux_name):
        return (self.ctx.user_data.display(session.card(target_name).as_markdown()) if target_name else "",
                session.card(aux_name).as_markdown() if aux_name and aux_name != NO_AUX else "No auxiliary: no pathways.")

    def _refused(self, session, target_name, aux_name, why, table, summary):
        """The pair was refused: every control and card keeps showing the model still open."""
        warn(f"{target_name} + {aux_name} was not opened: {why}")
        still = (f"**{session.target_name}** with auxiliary **{session.aux_name}** is still open."
                 if session.model is not None else "No model is open.")
        status = f"**{target_name}** and **{aux_name}** cannot be paired: {why}  \n{still}"
        if table is not None:
            summary = f"Refused pair **{target_name} + {aux_name}**: {summary}"
        else:
            table = session.compat if session.compat is not None else pd.DataFrame(columns=COMPAT_COLUMNS)
            summary = compatibility_summary(session.compat) if session.compat is not None else ""
        return (session, status, summary, table, _params_md(session), *self._cards(session, session.target_name, session.aux_name),
                gr.update(value=session.target_name), gr.update(value=session.aux_name))

    @guard
    def select_models(self, state, target_name, aux_name, spread_aux=False):
        session = self.ctx.session(state)
        if not target_name:
            raise gr.Error("Choose a target model first.")
        aux_name = aux_name or NO_AUX
        aux_layers = "spread" if spread_aux else None
        try:
            table, summary = (session.compatibility(target_name, aux_name, aux_layers) if aux_name != NO_AUX
                              else (None, ""))
        except Exception:  # noqa: BLE001 - select() below says what is wrong
            table, summary = None, ""
        if table is not None and not table["match"].all():
            return self._refused(session, target_name, aux_name, "their layer shapes differ (see the table below).", table, summary)
        try:
            score = session.select(target_name, aux_name, aux_layers=aux_layers)
        except M2PTError as e:
            return self._refused(session, target_name, aux_name, str(e), None, "")
        table = session.compat if session.compat is not None else pd.DataFrame(columns=COMPAT_COLUMNS)
        summary = compatibility_summary(session.compat) if session.compat is not None else "No auxiliary chosen."
        return (session, self.ctx.user_data.display(_status_md(session, score)), summary, table, _params_md(session),
                *self._cards(session, target_name, aux_name), gr.update(value=target_name), gr.update(value=aux_name))

    @guard
    def add_checkpoint(self, state, file, typed):
        session = self.ctx.session(state)
        if not file and not (typed or "").strip():
            raise gr.Error("Upload a checkpoint file or type a path first.")
        name = session.add_upload(file) if file else session.add_path(typed)
        msg = f"Added **{name}**: {session.card(name).modality or 'weights only'}; choose it as target or auxiliary."
        return (session, msg, gr.update(choices=session.target_choices()), gr.update(choices=session.aux_choices()))

    @guard
    def open_pretrained(self, state, file, typed, dataset, heads=0):
        session = self.ctx.session(state)
        if not file and not (typed or "").strip():
            raise gr.Error("Upload a checkpoint file or type a path (or a Hugging Face name) first.")
        source = file or session.typed_source(typed)
        dataset = self.ctx.user_data.resolve(dataset) if dataset else None      # only what this app may read
        t = session.open_pretrained(source, dataset, num_heads=int(heads) if heads else None)
        return (session, self.ctx.user_data.display(pretrained_summary(t)), gr.update(choices=session.target_choices(), value=t.name),
                gr.update(value=NO_AUX), t.report_table())


def build(ctx: AppContext) -> None:
    ui, h = _layout(ctx), _Handlers(ctx)
    ctx.c.update(target=ui.target, aux=ui.aux, models_status=ui.status)
    ui.target.input(h.on_target, [ctx.state, ui.target], [ctx.state, ui.aux], api_visibility="private")
    outputs = [ctx.state, ui.status, ui.compat_md, ui.compat, ui.params, ui.target_card, ui.aux_card, ui.target, ui.aux]
    clear_toasts_on(ui.open_btn.click)          # not after: a refused pair's own warning must stay
    ctx.c["select_event"] = ui.open_btn.click(h.select_models, [ctx.state, ui.target, ui.aux, ui.spread], outputs,
                                              api_name="select_models")
    # Opening a pretrained target opens it at once (no auxiliary yet); main.py redraws the other panels.
    ctx.c["more_select_events"] = [
        ui.pre_btn.click(h.open_pretrained, [ctx.state, ui.upload, ui.path, ui.pre_dataset, ui.pre_heads],
                         [ctx.state, ui.add_status, ui.target, ui.aux, ui.report], api_name="open_pretrained")
        .success(h.select_models, [ctx.state, ui.target, ui.aux, ui.spread], outputs, api_visibility="private")]
    ctx.c["select_fn"] = h.select_models
    ctx.c["select_outputs"] = outputs
    ui.add_btn.click(h.add_checkpoint, [ctx.state, ui.upload, ui.path], [ctx.state, ui.add_status, ui.target, ui.aux],
                     api_name="add_checkpoint")
