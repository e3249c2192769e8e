"""Export tab: merge the pathways (λ as set now) and download a plain checkpoint."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ..common import AppContext, guard


def build(ctx: AppContext) -> None:
    gr.Markdown("Fold every pathway into its layer, Ŵ = W + λ·W', with the λ as set now (learned, or your edits). "
                "The result has exactly the target's architecture, parameter count and inference cost. Its outputs "
                "are checked against the pathway model before the download is offered.")
    btn = gr.Button("Merge and export", variant="primary")
    report = gr.Markdown()
    files = gr.File(label="Merged checkpoint (safetensors, config inside) and config.json", file_count="multiple",
                    interactive=False)

    @guard
    def export(state):
        session = ctx.session(state)
        out = Path(tempfile.mkdtemp(prefix="m2pt-export-"))
        r = session.export(out)
        ok = r["max_abs_diff"] < 1e-4
        md = (f"{'Verified' if ok else 'WARNING: large difference'}: merged **{r['pathways_merged']}** pathways of **{session.target_name}**. "
              f"Max |output difference| merged vs pathway model on {min(64, len(session.data.y)) if session.data else 8} "
              f"inputs: **{r['max_abs_diff']:.2e}**.  \nParameters: {r['params_with_pathways']:,} with pathways → "
              f"**{r['params_merged']:,}** merged.")
        return session, md, [str(r["path"]), str(r["config_path"])]

    btn.click(export, [ctx.state], [ctx.state, report, files], api_name="export")
