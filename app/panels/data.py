"""Your-data tab: point at a dataset (a folder under --data-dir, or an uploaded archive), score the
open model on it (accuracy with its 95% interval, per class, confusion matrix) or hand it to the
Train tab. Logic in m2pt_core.explorer.user_data."""
from __future__ import annotations

import weakref
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from m2pt_core.data import list_datasets
from m2pt_core.explorer.user_data import ModelDataMismatch, duration, score_dataset, training_offer
from m2pt_core.figures import confusion_heatmap

from ..common import AppContext, guard

SPLITS = ["default", "all", "train", "val", "test"]

EMPTY_TABLE = pd.DataFrame(columns=["class", "n", "correct", "acc %", "low %", "high %"])


def _intro(ctx: AppContext) -> str:
    where = ("folders, CSV manifests (path,label) and .zip / .tar.gz archives in the server's data folder (--data-dir)"
             if ctx.user_data.data_dir else "no server folder (start the app with `--data-dir DIR` to offer one)")
    return ("Score the open model on **your own data**, or train on it in the Train tab. A dataset is a class-per-"
            "folder tree (ImageFolder layout, any modality; its own train/ val/ test/ sub-folders are kept) or a "
            f"manifest. Readable here: {where}, or an uploaded archive (up to "
            f"{ctx.user_data.max_upload_bytes // 2**20} MB). Class names must match the model's. *default* split: "
            "the test split of the data the model was trained on, else every item.")


def _layout(ctx: AppContext) -> SimpleNamespace:
    """The tab's components."""
    ui = SimpleNamespace()
    gr.Markdown(_intro(ctx))
    with gr.Row():
        ui.dataset = gr.Dropdown(label="Dataset", choices=ctx.user_data.choices() + list_datasets(), scale=3,
                                 elem_id="data-dataset")
        ui.refresh = gr.Button("↻ Refresh list", scale=1)
        ui.split = gr.Dropdown(label="Split", choices=SPLITS, value="default", scale=1)
    ui.overlap_ok = gr.Checkbox(value=False, label="score items the model was trained on too (the result says how many)",
                                info="off: a split with training items is refused, as `m2pt eval` does")
    ui.upload = gr.File(label="…or upload a .zip / .tar.gz", file_types=[".zip", ".gz", ".tgz"], elem_id="data-upload")
    with gr.Row():
        ui.score_btn = gr.Button("Score the open model", variant="primary")
        ui.train_btn = gr.Button("Use it in the Train tab")
    ui.status = gr.Markdown(label="data status", elem_id="data-status")
    ui.next_btn = gr.Button("Train a model on it", variant="primary", visible=False, elem_id="data-train-next")
    with gr.Row():
        ui.per_class = gr.Dataframe(label="Per-class accuracy (95% Wilson interval)", interactive=False, max_height=420)
        ui.confusion = gr.Plot(label="Confusion matrix")
    ui.skipped = gr.Dataframe(label="Skipped files", headers=["file", "reason"], interactive=False, max_height=240)
    ui.uploads = gr.State([])   # this session's uploaded archives (choice strings)
    return ui


class _Handlers:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.offers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # session → its TrainOffer

    def choices(self, mine, selected=None):
        return gr.update(choices=list(mine or []) + self.ctx.user_data.choices() + list_datasets(), value=selected)

    @guard
    def on_upload(self, mine, file):
        if not file:
            raise gr.Error("Upload an archive first.")
        choice = self.ctx.user_data.add_upload(file)
        mine = list(mine or []) + [choice]
        return mine, self.choices(mine, choice), f"Added **{choice}**."

    @guard
    def score(self, state, choice, split_name, allow_overlap=False):
        session = self.ctx.session(state)
        if not choice:
            raise gr.Error("Choose a dataset first.")
        model = session.require_model()
        try:
            s = score_dataset(model, self.ctx.user_data.resolve(choice), None if split_name == "default" else split_name,
                              allow_train_overlap=bool(allow_overlap))
        except ModelDataMismatch as e:   # a newcomer's own data: say so here, and offer the next step
            return self._offer(session, choice, e)
        table = s.per_class()
        for col in ("acc", "acc_low", "acc_high"):
            table[col] = (100 * table[col]).round(1)
        table = table.rename(columns={"acc": "acc %", "acc_low": "low %", "acc_high": "high %"})
        title = f"{session.target_name} on {choice} ({s.split}, n = {s.n})"
        shown = self.ctx.user_data.display                   # no server path on the page
        rows = [[shown(p), shown(r)] for p, r in s.skipped[:500]]
        return (session, shown(f"**{session.target_name}** (λ as set now): {s.describe()}."), table,
                confusion_heatmap(s.confusion, s.classes, s.pred_names, title), rows, gr.update(visible=False))

    def _offer(self, session, choice: str, why: Exception) -> tuple:
        """No open model can score this data: say why, and offer training on it (with its time here)."""
        catalog = self.ctx.catalog
        aux_modality = {n: (catalog.entries().get(n) or {}).get("modality") for n in catalog.aux_names()}
        offer = training_offer(choice, self.ctx.user_data.resolve(choice), aux_modality, session.aux_size)
        text = f"The open model **{session.target_name}** cannot score **{choice}**: {why}"
        if offer is None:
            return session, self.ctx.user_data.display(text), EMPTY_TABLE, None, [], gr.update(visible=False)
        self.offers[session] = offer
        return (session, self.ctx.user_data.display(f"{text}\n\n{offer.describe()}"), EMPTY_TABLE, None, [],
                gr.update(visible=True, value=f"Train a model on {choice} (≈ {duration(offer.seconds)})"))

    @guard
    def take_offer(self, state):
        """One click: the Train tab gets this dataset and a fitting auxiliary, and opens."""
        offer = self.offers.get(state) if state is not None else None
        if offer is None:
            raise gr.Error("Score a dataset first.")
        train_choices = list_datasets() + self.ctx.user_data.choices() + [offer.choice]
        return (gr.update(choices=list(dict.fromkeys(train_choices)), value=offer.choice),
                gr.update(value=offer.aux), gr.Tabs(selected="train"))

    @guard
    def to_train(self, mine, choice):
        if not choice:
            raise gr.Error("Choose a dataset first.")
        self.ctx.user_data.resolve(choice)   # readable?
        return (gr.update(choices=list_datasets() + self.ctx.user_data.choices() + list(mine or []), value=choice),
                f"**{choice}** is now the target dataset of the Train tab.")


def build(ctx: AppContext) -> None:
    ui, h = _layout(ctx), _Handlers(ctx)
    ui.refresh.click(lambda mine, d: h.choices(mine, d), [ui.uploads, ui.dataset], [ui.dataset],
                     api_visibility="private")
    # Folders added under --data-dir since the page opened are offered when the list is opened.
    ui.dataset.focus(lambda mine, d: h.choices(mine, d), [ui.uploads, ui.dataset], [ui.dataset],
                     api_visibility="private", queue=False, show_progress="hidden")
    ui.upload.upload(h.on_upload, [ui.uploads, ui.upload], [ui.uploads, ui.dataset, ui.status], api_name="add_dataset")
    ui.score_btn.click(h.score, [ctx.state, ui.dataset, ui.split, ui.overlap_ok],
                       [ctx.state, ui.status, ui.per_class, ui.confusion, ui.skipped, ui.next_btn], api_name="score_dataset")
    train_target, start = ctx.c.get("train_dataset"), ctx.c.get("train_start")
    if train_target is not None:
        ui.train_btn.click(h.to_train, [ui.uploads, ui.dataset], [train_target, ui.status],
                           api_name="use_dataset_for_training")
    if train_target is not None and start is not None:
        fn, inputs, outputs = start
        ui.next_btn.click(**ctx.touching(h.take_offer, [train_target, ctx.c["train_aux"], ctx.c["tabs"]]),
                          inputs=[ctx.state], api_visibility="private").success(fn, inputs, outputs,
                                                                                 api_visibility="private")
