"""Your-data tab: point at a dataset (a folder under --data-dir, or an uploaded archive), score the
open model on it (accuracy with its 95% interval, per class, confusion matrix) or hand it to the
Train tab. Logic in m2pt_core.explorer.user_data."""
from __future__ import annotations

import weakref

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


def build(ctx: AppContext) -> None:
    gr.Markdown(_intro(ctx))
    with gr.Row():
        dataset = gr.Dropdown(label="Dataset", choices=ctx.user_data.choices() + list_datasets(), scale=3,
                              elem_id="data-dataset")
        refresh = gr.Button("↻ Refresh list", scale=1)
        split = gr.Dropdown(label="Split", choices=SPLITS, value="default", scale=1)
    overlap_ok = gr.Checkbox(value=False, label="score items the model was trained on too (the result says how many)",
                             info="off: a split with training items is refused, as `m2pt eval` does")
    upload = gr.File(label="…or upload a .zip / .tar.gz", file_types=[".zip", ".gz", ".tgz"], elem_id="data-upload")
    with gr.Row():
        score_btn = gr.Button("Score the open model", variant="primary")
        train_btn = gr.Button("Use it in the Train tab")
    status = gr.Markdown(label="data status", elem_id="data-status")
    next_btn = gr.Button("Train a model on it", variant="primary", visible=False, elem_id="data-train-next")
    with gr.Row():
        per_class = gr.Dataframe(label="Per-class accuracy (95% Wilson interval)", interactive=False, max_height=420)
        confusion = gr.Plot(label="Confusion matrix")
    skipped = gr.Dataframe(label="Skipped files", headers=["file", "reason"], interactive=False, max_height=240)
    uploads = gr.State([])   # this session's uploaded archives (choice strings)
    offers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # session → its TrainOffer

    def _choices(mine, selected=None):
        return gr.update(choices=list(mine or []) + ctx.user_data.choices() + list_datasets(), value=selected)

    @guard
    def on_upload(mine, file):
        if not file:
            raise gr.Error("Upload an archive first.")
        choice = ctx.user_data.add_upload(file)
        mine = list(mine or []) + [choice]
        return mine, _choices(mine, choice), f"Added **{choice}**."

    @guard
    def score(state, choice, split_name, allow_overlap=False):
        session = ctx.session(state)
        if not choice:
            raise gr.Error("Choose a dataset first.")
        model = session.require_model()
        try:
            s = score_dataset(model, ctx.user_data.resolve(choice), None if split_name == "default" else split_name,
                              allow_train_overlap=bool(allow_overlap))
        except ModelDataMismatch as e:   # a newcomer's own data: say so here, and offer the next step
            aux_modality = {n: (ctx.catalog.entries().get(n) or {}).get("modality") for n in ctx.catalog.aux_names()}
            offer = training_offer(choice, ctx.user_data.resolve(choice), aux_modality, session.aux_size)
            text = f"The open model **{session.target_name}** cannot score **{choice}**: {e}"
            if offer is None:
                return session, ctx.user_data.display(text), EMPTY_TABLE, None, [], gr.update(visible=False)
            offers[session] = offer
            return (session, ctx.user_data.display(f"{text}\n\n{offer.describe()}"), EMPTY_TABLE, None, [],
                    gr.update(visible=True, value=f"Train a model on {choice} (≈ {duration(offer.seconds)})"))
        table = s.per_class()
        for col in ("acc", "acc_low", "acc_high"):
            table[col] = (100 * table[col]).round(1)
        table = table.rename(columns={"acc": "acc %", "acc_low": "low %", "acc_high": "high %"})
        title = f"{session.target_name} on {choice} ({s.split}, n = {s.n})"
        shown = ctx.user_data.display                   # no server path on the page
        rows = [[shown(p), shown(r)] for p, r in s.skipped[:500]]
        return (session, shown(f"**{session.target_name}** (λ as set now): {s.describe()}."), table,
                confusion_heatmap(s.confusion, s.classes, s.pred_names, title), rows, gr.update(visible=False))

    @guard
    def take_offer(state):
        """One click: the Train tab gets this dataset and a fitting auxiliary, and opens."""
        offer = offers.get(state) if state is not None else None
        if offer is None:
            raise gr.Error("Score a dataset first.")
        train_choices = list_datasets() + ctx.user_data.choices() + [offer.choice]
        return (gr.update(choices=list(dict.fromkeys(train_choices)), value=offer.choice),
                gr.update(value=offer.aux), gr.Tabs(selected="train"))

    @guard
    def to_train(mine, choice):
        if not choice:
            raise gr.Error("Choose a dataset first.")
        ctx.user_data.resolve(choice)   # readable?
        return (gr.update(choices=list_datasets() + ctx.user_data.choices() + list(mine or []), value=choice),
                f"**{choice}** is now the target dataset of the Train tab.")

    refresh.click(lambda mine, d: _choices(mine, d), [uploads, dataset], [dataset], api_visibility="private")
    # Folders added under --data-dir since the page opened are offered when the list is opened.
    dataset.focus(lambda mine, d: _choices(mine, d), [uploads, dataset], [dataset], api_visibility="private",
                  queue=False, show_progress="hidden")
    upload.upload(on_upload, [uploads, upload], [uploads, dataset, status], api_name="add_dataset")
    score_btn.click(score, [ctx.state, dataset, split, overlap_ok], [ctx.state, status, per_class, confusion, skipped, next_btn],
                    api_name="score_dataset")
    train_target = ctx.c.get("train_dataset")
    if train_target is not None:
        train_btn.click(to_train, [uploads, dataset], [train_target, status], api_name="use_dataset_for_training")
    start = ctx.c.get("train_start")
    if train_target is not None and start is not None:
        fn, inputs, outputs = start
        next_btn.click(**ctx.touching(take_offer, [train_target, ctx.c["train_aux"], ctx.c["tabs"]]),
                       inputs=[ctx.state], api_visibility="private").success(fn, inputs, outputs, api_visibility="private")
