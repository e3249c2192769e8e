"""Weights tab: ‖W‖, ‖W'‖, ‖λW'‖/‖W‖ and cosine(W, W') per layer; λ and accuracy over training."""
from __future__ import annotations

import gradio as gr

from m2pt_core import figures

from ..common import AppContext, guard


def view(session):
    if session is None or session.model is None:
        msg = "Open a model in the Models tab."
        return (figures.empty("", msg),) * 4
    if session.pathway_names():
        stats = session.weight_stats()
        norms, cosine = figures.weight_norm_bars(stats), figures.cosine_by_layer(stats)
    else:
        norms = cosine = figures.empty("", f"{session.target_name} has no pathways, so there is no W' to compare.")
    metrics, traj = session.training_log()
    curves = (figures.training_curves({session.target_name: metrics}, title="Training curves of the open model")
              if len(metrics) else figures.empty("", "No training log for this model."))
    return norms, cosine, figures.lambda_trajectory_plot(traj), curves


def build(ctx: AppContext) -> None:
    gr.Markdown("How large the auxiliary contribution λW' is next to the target's own W, how aligned W' is "
                "with W, and how λ moved during training (from the training log).")
    norms = gr.Plot(label="Norms and ratio")
    cosine = gr.Plot(label="Cosine")
    traj = gr.Plot(label="λ trajectories")
    curves = gr.Plot(label="Training curves")

    @guard
    def refresh(state):
        return view(state)

    ctx.c["weights_refresh"] = (refresh, [ctx.state], [norms, cosine, traj, curves])
