"""Train tab: a small baseline + M2PT run on CPU, live progress and curves; the pair joins this session's models."""
from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace
from typing import Any, Iterator

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
KEEP = object()   # an output left as it is


def _layout(ctx: AppContext) -> SimpleNamespace:
    """The tab's components (the Your-data tab sets the dataset; a finished run sets the Models tab)."""
    d = TrainRequest()
    gr.Markdown(NOTE)
    ui = SimpleNamespace()
    with gr.Row():
        ui.dataset = gr.Dropdown(label="Target dataset", choices=list_datasets() + ctx.user_data.choices(),
                                 value=d.dataset, elem_id="train-dataset")
        ui.aux = gr.Dropdown(label="Auxiliary model", choices=ctx.catalog.aux_names(),
                             value=d.aux if d.aux in ctx.catalog.aux_names() else None, elem_id="train-aux")
        ui.init = gr.Dropdown(label="Target starting weights", choices=[RANDOM_INIT], value=RANDOM_INIT,
                              allow_custom_value=True,
                              info="random, or a pretrained checkpoint opened in the Models tab (or a path / HF name)")
    with gr.Row():
        ui.epochs = gr.Slider(1, 20, value=d.epochs, step=1, label="Epochs", elem_id="train-epochs")
        ui.size = gr.Slider(200, 5000, value=d.data_size, step=100, label="Subset size (items, all splits)",
                            elem_id="train-size")
        ui.lam_lr = gr.Number(value=d.lambda_lr_scale, label="λ learning-rate scale (× lr)")
        ui.aux_trainable = gr.Checkbox(value=d.aux_trainable, label="Auxiliary weights trainable (paper)")
    with gr.Row():
        ui.start = gr.Button("Train baseline + M2PT", variant="primary")
        ui.stop = gr.Button("Stop", variant="stop")
        ui.resume = gr.Button("Resume", visible=False)
    ui.status = gr.Markdown(label="training status", elem_id="train-status")
    ui.curves = gr.Plot(label="Training curves")
    ui.result = gr.Markdown(label="training result", elem_id="train-result")
    return ui


class _Run:
    """One training run of a session in a worker thread; ``follow`` turns its events into the
    tab's outputs (state, status, curves, result, target, resume, aux)."""

    def __init__(self, ctx: AppContext, session, req: TrainRequest, resume: bool):
        self.ctx, self.session, self.req = ctx, session, req
        self.events: queue.Queue = queue.Queue()
        self.out: dict = {}
        self.caveat = ""
        self.histories: dict[str, list] = {"baseline": [], "m2pt": []}
        self.t0 = time.perf_counter()
        aux_w, work_dir = session.aux_weights(req.aux), session.train_dir(req)
        session.train_stop.clear()

        def work():
            try:
                self.out["result"] = train_pair(req, aux_w, self.events.put, session.train_stop.is_set,
                                                work_dir=work_dir, resume=resume)
            except BaseException as e:  # noqa: BLE001 - re-raised in the request thread (follow)
                self.out["error"] = e
            finally:
                self.events.put(None)

        self.worker = threading.Thread(target=work, name="m2pt-train", daemon=True)

    def _row(self, status: Any, curves: Any = KEEP, result: Any = KEEP, target: Any = KEEP, resume: Any = KEEP,
             aux: Any = KEEP) -> tuple:
        keep = gr.update()
        return tuple(keep if v is KEEP else v for v in (self.session, status, curves, result, target, resume, aux))

    def follow(self, progress) -> Iterator[tuple]:
        """Progress while the run goes on, then what it finished (or stopped) with."""
        progress(0.0, desc="Loading data")
        self.session.training = True
        self.worker.start()
        try:
            yield from self._events(progress)
        finally:
            self.session.train_stop.set()   # the page went away (or an error): the worker stops at its next step
            self.worker.join()
            self.session.training = False
        if "error" in self.out:
            raise self.out["error"]
        res = self.out["result"]
        yield self._stopped(res) if res["stopped"] else self._finished(res)

    def _events(self, progress) -> Iterator[tuple]:
        last_yield = 0.0
        while (ev := self.events.get()) is not None:
            if ev["event"] == "warning":
                warn(ev["message"])
                self.caveat = f"\n\n⚠️ {ev['message']}"
                yield self._row(f"⚠️ {ev['message']}", resume=gr.update(visible=False))
                continue
            steps = ev.get("global_step", ev["epoch"]) / max(ev.get("total_steps", ev["epochs"]), 1)
            frac = (ev["arm_index"] + steps) / ev["arms"]
            if ev["event"] == "step":
                progress(frac, desc=f"{ev['arm']}: epoch {ev['epoch']}/{ev['epochs']}, "
                                    f"step {ev['step']}/{ev['steps_per_epoch']}")
                if time.perf_counter() - last_yield > 2:
                    last_yield = time.perf_counter()
                    yield self._row(f"Training **{ev['arm']}** · epoch {ev['epoch']}/{ev['epochs']} · loss "
                                    f"{ev['loss']:.3f} · {time.perf_counter() - self.t0:.0f} s")
            else:
                self.histories[ev["arm"]].append(ev)
                yield self._row(f"**{ev['arm']}** epoch {ev['epoch']}/{ev['epochs']}: val acc {pct(ev.get('val_acc'))}",
                                _curves(self.histories))

    def _stopped(self, res: dict) -> tuple:
        done = {arm: len(h) for arm, h in res["histories"].items()}
        self.session.pending_train = self.req
        msg = (f"**Stopped** during the {res['stopped_arm']} run. Finished epochs: baseline "
               f"{done.get('baseline', 0)}/{self.req.epochs}, M2PT {done.get('m2pt', 0)}/{self.req.epochs}; their "
               "curves are kept, and so are the models at their last finished epoch. **Resume** continues from there.")
        return self._row(msg, _curves(res["histories"]), self.caveat.strip(), resume=gr.update(visible=True))

    def _finished(self, res: dict) -> tuple:
        """The trained pair joins the session, and the Models tab selects it *and its auxiliary*."""
        session, req = self.session, self.req
        session.pending_train = None
        shown = self.ctx.user_data.display(req.dataset)      # the folder as the user named it, not its server path
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
        summary = (result_markdown(res, req.aux, time.perf_counter() - self.t0) + "\n\n"
                   f"Learned λ: mean {sum(lams) / len(lams):+.4f}, range [{min(lams):+.4f}, {max(lams):+.4f}]. "
                   f"Open **{name}** in the Models tab to explore it.{chance}{self.caveat}")
        return self._row("Done.", _curves(res["histories"]), summary,
                         gr.update(choices=session.target_choices(), value=name), gr.update(visible=False),
                         gr.update(choices=session.aux_choices(), value=req.aux))   # Open then opens what was trained


class _Handlers:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    @guard
    def init_choices(self, state):
        session = self.ctx.session(state)
        return state if state is not None else session, gr.update(
            choices=[RANDOM_INIT] + sorted({t.source for t in session.pretrained.values()}))

    @guard
    def train(self, state, dataset_name, aux_name, n_epochs, n_items, lam_scale, trainable, init_from=RANDOM_INIT,
              progress=gr.Progress()):
        session = self.ctx.session(state)
        if init_from not in (None, "", RANDOM_INIT) and init_from not in {t.source for t in session.pretrained.values()}:
            init_from = session.typed_source(str(init_from))     # typed: only exposed folders, or a cached HF name
        if not aux_name or aux_name == NO_AUX:
            raise gr.Error("Choose an auxiliary model to train M2PT with.")
        req = TrainRequest(dataset=self.ctx.user_data.resolve(dataset_name), aux=aux_name, epochs=int(n_epochs),
                           data_size=int(n_items), lambda_lr_scale=float(lam_scale), aux_trainable=bool(trainable),
                           size=session.aux_size(aux_name),
                           init=None if init_from in (None, "", RANDOM_INIT) else str(init_from),
                           num_heads=session.pretrained_heads(init_from))
        req.check()
        yield from _Run(self.ctx, session, req, False).follow(progress)

    @guard
    def resume_training(self, state, progress=gr.Progress()):
        session = self.ctx.session(state)
        if session.pending_train is None:
            raise gr.Error("There is no stopped training run to resume in this session.")
        yield from _Run(self.ctx, session, session.pending_train, True).follow(progress)

    def stop_training(self, state):
        """Ask the running training to stop at its next step; it then reports what it kept."""
        if state is None or not state.training:
            return gr.update()           # nothing runs: the status keeps saying what happened last
        state.train_stop.set()
        return "Stopping after the current step…"


def build(ctx: AppContext) -> None:
    ui, h = _layout(ctx), _Handlers(ctx)
    ctx.c["train_dataset"] = ui.dataset   # the Your-data tab sets it
    ui.init.focus(h.init_choices, [ctx.state], [ctx.state, ui.init], api_visibility="private")
    outputs = [ctx.state, ui.status, ui.curves, ui.result, ctx.c["target"], ui.resume, ctx.c["aux"]]
    inputs = [ctx.state, ui.dataset, ui.aux, ui.epochs, ui.size, ui.lam_lr, ui.aux_trainable, ui.init]
    ui.start.click(h.train, inputs, outputs, api_name="train")
    ctx.c["train_start"] = (h.train, inputs, outputs)     # the Your-data tab's one-click next step
    ctx.c["train_aux"] = ui.aux
    ui.resume.click(h.resume_training, [ctx.state], outputs, api_name="resume_training")
    # Not a cancel: the run must finish its step and report what it kept. Runs outside the queue,
    # so it is not stuck behind the training it stops.
    ui.stop.click(**ctx.touching(h.stop_training, [ui.status]), inputs=[ctx.state], api_name="stop_training",
                  queue=False)
