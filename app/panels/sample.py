"""Try-a-sample tab: upload any file (or pick a bundled one), see it, and compare top-k predictions."""
from __future__ import annotations

import weakref
from types import SimpleNamespace
from pathlib import Path

import gradio as gr

from m2pt_core import figures
from m2pt_core.errors import M2PTError
from m2pt_core.explorer.samples import bundled_samples, show_input

from ..common import AppContext, guard

ACCEPTED = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".wav", ".flac", ".ogg", ".ply", ".off",
            ".xyz", ".txt", ".npy", ".npz", ".mp4", ".avi"]


def _layout(samples: dict, missing: str) -> SimpleNamespace:
    """The tab's components."""
    ui = SimpleNamespace()
    gr.Markdown("Upload an image, a sound, a point cloud or a video, or pick a bundled sample. The modality is "
                "detected from the file's content; the **baseline** and the **M2PT model (with λ as set in "
                "Pathways)** then predict side by side." + missing)
    with gr.Row():
        ui.bundled = gr.Dropdown(label="Bundled sample", choices=list(samples), value=None, scale=2,
                                 elem_id="sample-bundled")
        ui.upload = gr.File(label="…or upload a file", file_types=ACCEPTED, scale=2, elem_id="sample-upload")
        ui.k = gr.Slider(1, 10, value=5, step=1, label="top-k", scale=1)
    ui.status = gr.Markdown(label="detected input", elem_id="sample-status")
    with gr.Row(elem_id="sample-plots"):
        ui.shown = gr.Plot(label="Input")
        ui.bars = gr.Plot(label="Predictions")
    ui.table = gr.Dataframe(label="Top-k predictions", headers=["model", "rank", "class_index", "class", "prob %"],
                            interactive=False)
    return ui


class _Handlers:
    def __init__(self, ctx: AppContext, samples: dict):
        self.ctx, self.samples = ctx, samples
        # Why a session's last file was refused, for the status line the failure handler writes
        # (the toast closes by itself; the status stays until the next file).
        self.refusals: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def _run(self, state, path, k):
        session = self.ctx.session(state)
        self.refusals.pop(session, None)
        try:
            p = session.predict(path, int(k))
        except M2PTError as e:
            self.refusals[session] = str(e)
            raise
        top = p.table.copy()
        top["prob"] = (100 * top["prob"]).round(2)
        top = top.rename(columns={"prob": "prob %"})
        agree = p.table[p.table["rank"] == 1]["class"].tolist()
        verdict = ("both models agree" if len(set(agree)) == 1 else "the models disagree") if len(agree) > 1 else ""
        msg = f"Detected {p.modality} · {p.path.name} · input {tuple(p.x.shape)}" + (f" · {verdict}" if verdict else "")
        return session, msg, show_input(p.modality, p.x, p.path), figures.prediction_bars(p.table), top

    @guard
    def predict_sample(self, state, file, k):
        if not file:
            raise gr.Error("Upload a file first.")
        return self._run(state, file, k)

    @guard
    def predict_bundled(self, state, name, k):
        if not name:
            raise gr.Error("Pick a bundled sample first.")
        if name not in self.samples:
            raise gr.Error(f"Unknown bundled sample {name!r}.")
        return self._run(state, self.samples[name].path, k)

    def cleared(self, state, file_or_name):
        """After a refused file: nothing of the previous file stays on screen beside the new name."""
        name = Path(file_or_name).name if file_or_name and Path(str(file_or_name)).exists() else file_or_name
        why = self.refusals.get(state) if state is not None else None
        text = f"**{name or 'The file'}** was not used" + (f": {why}" if why else " (see the message).")
        return text, None, None, None

    def matching(self, state):
        """Bundled samples of the open model's modality only (the others would only be refused)."""
        model = getattr(state, "model", None)
        modality = getattr(getattr(model, "config", None), "modality", None)
        return gr.update(choices=[n for n, s in self.samples.items() if modality is None or s.modality == modality],
                         value=None)


def build(ctx: AppContext) -> None:
    try:
        samples, missing = {s.name: s for s in bundled_samples()}, ""
    except M2PTError as e:   # a non-editable install that was not told where assets/ is
        samples, missing = {}, f"\n\n*{e}*"
    ui, h = _layout(samples, missing), _Handlers(ctx, samples)
    ctx.c["sample_refresh"] = (h.matching, [ctx.state], [ui.bundled])
    outputs = [ctx.state, ui.status, ui.shown, ui.bars, ui.table]
    ui.upload.upload(h.predict_sample, [ctx.state, ui.upload, ui.k], outputs, api_name="predict_sample").failure(
        **ctx.touching(h.cleared, outputs[1:]), inputs=[ctx.state, ui.upload], api_visibility="private")
    ui.bundled.input(h.predict_bundled, [ctx.state, ui.bundled, ui.k], outputs, api_name="predict_bundled").failure(
        **ctx.touching(h.cleared, outputs[1:]), inputs=[ctx.state, ui.bundled], api_visibility="private")
