"""Export tab: merge the pathways (λ as set now) and download a plain checkpoint with its provenance."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ..common import AppContext, clear_toasts, guard


def report_markdown(session, r: dict) -> str:
    """What was exported and what was checked; "Verified" only when outputs were compared."""
    lam = "edited in this session" if session.lambdas_edited() else "as learned"
    params = (f"Parameters: {r['params_with_pathways']:,} with pathways → **{r['params_merged']:,}** merged, "
              "the target's exact architecture.")
    if r["max_abs_diff"] is None:
        return (f"Exported **{session.target_name}** as it is: it has no pathways, so there was nothing to merge "
                f"and nothing to verify.  \n{params}")
    ok = r["max_abs_diff"] < 1e-4
    head = ("**Verified**: the merged model gives the same outputs as the pathway model"
            if ok else "**WARNING**: the merged model's outputs differ from the pathway model's")
    src = f"{r['verified_on']} validation inputs" if session.data is not None else f"{r['verified_on']} random inputs"
    return (f"{head} (λ {lam}): merged **{r['pathways_merged']}** pathways of **{session.target_name}**; largest "
            f"|logit difference| over {src}: **{r['max_abs_diff']:.2e}** (tolerance 1e-4).  \n{params}  \n"
            "The provenance file (and the checkpoint's metadata) records the target, the auxiliary and its sha256, "
            "every λ and whether it was edited, the training data and the app version.")


def build(ctx: AppContext) -> None:
    gr.Markdown("Fold every pathway into its layer, Ŵ = W + λ·W', with the λ as set now (learned, or your edits). "
                "The result has exactly the target's architecture, parameter count and inference cost. Its outputs "
                "are checked against the pathway model before the download is offered.")
    btn = gr.Button("Merge and export", variant="primary")
    report = gr.Markdown(label="export report")
    files = gr.File(label="Merged checkpoint (safetensors, provenance inside), config.json and provenance.json",
                    file_count="multiple", interactive=False)

    @guard
    def export(state):
        session = ctx.session(state)
        out = Path(tempfile.mkdtemp(prefix="m2pt-export-"))
        r = session.export(out)
        paths = [str(p) for p in (r["path"], r["config_path"], r["provenance_path"]) if p is not None]
        return session, report_markdown(session, r), paths

    clear_toasts(btn.click(export, [ctx.state], [ctx.state, report, files], api_name="export"))
