"""Train tab: a small baseline + M2PT run on CPU, live progress and curves; the pair joins this session's models."""
from __future__ import annotations

import queue
import threading
import time

import gradio as gr
import pandas as pd

from m2pt_core.data import list_datasets
from m2pt_core import figures
from m2pt_core.explorer import TrainedPair, TrainRequest, train_pair
from m2pt_core.explorer.training import at_chance, result_markdown
from m2pt_core.explorer.session import NO_AUX

from ..common import AppContext, guard, pct, warn

NOTE = ("Trains a **baseline** and an **M2PT** model (pathways to the auxiliary, λ from 0) with the same recipe, "
        "seed and initialisation, on a subset of the dataset. The defaults (1,000 items, 3 epochs, demo size) take "
        "about a minute on 2 CPU cores for images; audio, point clouds and video take a few times longer per "
        "epoch. The trained pair appears in the Models tab for this session only.")


def _curves(histories: dict[str, list]) -> object:
    frames = {arm: pd.DataFrame(h) for arm, h in histories.items() if h}
    if not frames:
        return figures.empty("", "Curves appear after the first epoch.")
    return figures.training_curves(frames, title="Baseline vs M2PT, per epoch")


RANDOM_INIT = "random"


def build(ctx: AppContext) -> None:
    d = TrainRequest()
    gr.Markdown(NOTE)
    with gr.Row():
        dataset = gr.Dropdown(label="Target dataset", choices=list_datasets() + ctx.user_data.choices(), value=d.dataset,
                              elem_id="train-dataset")
        aux = gr.Dropdown(label="Auxiliary model", choices=ctx.catalog.aux_names(),
                          value=d.aux if d.aux in ctx.catalog.aux_names() else None, elem_id="train-aux")
        init = gr.Dropdown(label="Target starting weights", choices=[RANDOM_INIT], value=RANDOM_INIT,
                           allow_custom_value=True,
                           info="random, or a pretrained checkpoint opened in the Models tab (or a path / HF name)")
    with gr.Row():
        epochs = gr.Slider(1, 20, value=d.epochs, step=1, label="Epochs", elem_id="train-epochs")
        size = gr.Slider(200, 5000, value=d.data_size, step=100, label="Subset size (items, all splits)", elem_id="train-size")
        lam_lr = gr.Number(value=d.lambda_lr_scale, label="λ learning-rate scale (× lr)")
        aux_trainable = gr.Checkbox(value=d.aux_trainable, label="Auxiliary weights trainable (paper)")
    with gr.Row():
        start = gr.Button("Train baseline + M2PT", variant="primary")
        stop = gr.Button("Stop", variant="stop")
        resume = gr.Button("Resume", visible=False)
    status = gr.Markdown(label="training status", elem_id="train-status")
    ctx.c["train_dataset"] = dataset   # the Your-data tab sets it
    curves = gr.Plot(label="Training curves")
    result = gr.Markdown(label="training result", elem_id="train-result")

    def run(session, req: TrainRequest, resume_run: bool, progress):
        """Train (or resume) in a worker thread; yields (state, status, curves, result, target, resume, aux):
        a finished run selects the trained M2PT model *and its auxiliary* in the Models tab."""
        aux_w = session.aux_weights(req.aux)
        events: queue.Queue = queue.Queue()
        work_dir = session.train_dir(req)
        stop_flag = session.train_stop
        stop_flag.clear()
        out: dict = {}

        def work():
            try:
                out["result"] = train_pair(req, aux_w, events.put, stop_flag.is_set, work_dir=work_dir,
                                           resume=resume_run)
            except BaseException as e:  # noqa: BLE001 - re-raised in the request thread below
                out["error"] = e
            finally:
                events.put(None)

        worker = threading.Thread(target=work, name="m2pt-train", daemon=True)
        histories: dict[str, list] = {"baseline": [], "m2pt": []}
        caveat = ""
        t0, last_yield = time.perf_counter(), 0.0
        progress(0.0, desc="Loading data")
        session.training = True
        worker.start()
        keep = gr.update()
        try:
            while True:
                ev = events.get()
                if ev is None:
                    break
                if ev["event"] == "warning":
                    warn(ev["message"])
                    caveat = f"\n\n⚠️ {ev['message']}"
                    yield session, f"⚠️ {ev['message']}", keep, keep, keep, gr.update(visible=False), keep
                    continue
                frac = (ev["arm_index"] + ev.get("global_step", ev["epoch"]) / max(ev.get("total_steps", ev["epochs"]), 1)) / ev["arms"]
                if ev["event"] == "step":
                    progress(frac, desc=f"{ev['arm']}: epoch {ev['epoch']}/{ev['epochs']}, step {ev['step']}/{ev['steps_per_epoch']}")
                    if time.perf_counter() - last_yield > 2:
                        last_yield = time.perf_counter()
                        yield (session, f"Training **{ev['arm']}** · epoch {ev['epoch']}/{ev['epochs']} · loss "
                               f"{ev['loss']:.3f} · {time.perf_counter() - t0:.0f} s", keep, keep, keep, keep, keep)
                else:
                    histories[ev["arm"]].append(ev)
                    yield (session, f"**{ev['arm']}** epoch {ev['epoch']}/{ev['epochs']}: val acc {pct(ev.get('val_acc'))}",
                           _curves(histories), keep, keep, keep, keep)
        finally:
            stop_flag.set()      # the page went away (or an error): the worker stops at its next step
            worker.join()
            session.training = False
        if "error" in out:
            raise out["error"]
        res = out["result"]
        if res["stopped"]:
            done = {arm: len(h) for arm, h in res["histories"].items()}
            session.pending_train = req
            msg = (f"**Stopped** during the {res['stopped_arm']} run. Finished epochs: baseline "
                   f"{done.get('baseline', 0)}/{req.epochs}, M2PT {done.get('m2pt', 0)}/{req.epochs}; their curves "
                   "are kept, and so are the models at their last finished epoch. **Resume** continues from there.")
            yield session, msg, _curves(res["histories"]), caveat.strip(), keep, gr.update(visible=True), keep
            return
        session.pending_train = None
        shown = ctx.user_data.display(req.dataset)      # the folder as the user named it, not its server path
        label = session.next_train_label(shown, req.aux)
        pair = TrainedPair(label, shown, req.aux, res["data_size"], res["baseline"], res["m2pt"],
                           res["histories"], res["test"], res["settings"])
        name = session.add_trained(pair)
        lams = list(res["histories"]["m2pt"][-1]["lambdas"].values())
        finals = [res["histories"][arm][-1].get("val_acc") for arm in ("baseline", "m2pt")]
        chance = ""
        if all(at_chance(a, res["val_items"], res["num_classes"]) for a in finals):
            chance = (f"\n\n⚠️ Both validation accuracies are within the noise of chance level "
                      f"({100 / res['num_classes']:.0f}% on {res['val_items']} items): this run measured nothing.")
        summary = (result_markdown(res, req.aux, time.perf_counter() - t0) + "\n\n"
                   f"Learned λ: mean {sum(lams) / len(lams):+.4f}, range [{min(lams):+.4f}, {max(lams):+.4f}]. "
                   f"Open **{name}** in the Models tab to explore it.{chance}{caveat}")
        yield (session, "Done.", _curves(res["histories"]), summary,
               gr.update(choices=session.target_choices(), value=name), gr.update(visible=False),
               gr.update(choices=session.aux_choices(), value=req.aux))   # Open then opens what was trained

    @guard
    def init_choices(state):
        session = ctx.session(state)
        return state if state is not None else session, gr.update(
            choices=[RANDOM_INIT] + sorted({t.source for t in session.pretrained.values()}))

    @guard
    def train(state, dataset_name, aux_name, n_epochs, n_items, lam_scale, trainable, init_from=RANDOM_INIT,
              progress=gr.Progress()):
        session = ctx.session(state)
        if init_from not in (None, "", RANDOM_INIT) and init_from not in {t.source for t in session.pretrained.values()}:
            init_from = session.typed_source(str(init_from))     # typed: only exposed folders, or a cached HF name
        if not aux_name or aux_name == NO_AUX:
            raise gr.Error("Choose an auxiliary model to train M2PT with.")
        req = TrainRequest(dataset=ctx.user_data.resolve(dataset_name), aux=aux_name, epochs=int(n_epochs), data_size=int(n_items),
                           lambda_lr_scale=float(lam_scale), aux_trainable=bool(trainable),
                           size=session.aux_size(aux_name),
                           init=None if init_from in (None, "", RANDOM_INIT) else str(init_from),
                           num_heads=session.pretrained_heads(init_from))
        req.check()
        yield from run(session, req, False, progress)

    @guard
    def resume_training(state, progress=gr.Progress()):
        session = ctx.session(state)
        if session.pending_train is None:
            raise gr.Error("There is no stopped training run to resume in this session.")
        yield from run(session, session.pending_train, True, progress)

    def stop_training(state):
        """Ask the running training to stop at its next step; it then reports what it kept."""
        if state is None or not state.training:
            return gr.update()           # nothing runs: the status keeps saying what happened last
        state.train_stop.set()
        return "Stopping after the current step…"

    init.focus(init_choices, [ctx.state], [ctx.state, init], api_visibility="private")
    outputs = [ctx.state, status, curves, result, ctx.c["target"], resume, ctx.c["aux"]]
    inputs = [ctx.state, dataset, aux, epochs, size, lam_lr, aux_trainable, init]
    start.click(train, inputs, outputs, api_name="train")
    ctx.c["train_start"] = (train, inputs, outputs)     # the Your-data tab's one-click next step
    ctx.c["train_aux"] = aux
    resume.click(resume_training, [ctx.state], outputs, api_name="resume_training")
    # Not a cancel: the run must finish its step and report what it kept. Runs outside the queue,
    # so it is not stuck behind the training it stops.
    stop.click(**ctx.touching(stop_training, [status]), inputs=[ctx.state], api_name="stop_training", queue=False)
