"""M2PT Explorer dashboard: ``python app/main.py [--host H] [--port P] [--zoo DIR]``.

Opens on the bundled zoo (assets/zoo) with no set-up and works offline. UI only: every
computation and figure comes from m2pt_core (m2pt_core.explorer holds the session logic).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Union

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gradio as gr  # noqa: E402

from app.common import DEFAULT_SESSION_TTL_S, AppContext  # noqa: E402
from app.panels import ablation, data, export, models, pathways, sample, train, weights  # noqa: E402
from m2pt_core.explorer import DEFAULT_MAX_EVAL, Catalog  # noqa: E402
from m2pt_core.explorer.cache import DEFAULT_CACHE_BYTES  # noqa: E402
from m2pt_core.explorer.user_data import UserData  # noqa: E402
from m2pt_core.pathways import LAMBDA_BOUND  # noqa: E402

DEFAULT_MAX_UPLOAD_MB = 200     # the largest auxiliary people bring (MiniLM-L6) is ~90 MB

TITLE = "M2PT Explorer"
CSS = """
.gradio-container {max-width: min(1280px, 100vw) !important; margin: auto;}
#m2pt-header h1 {margin-bottom: 0;}
/* Narrow screens (a phone, a projector-zoomed laptop): side-by-side rows stack, nothing is wider
   than the screen, and table labels break between words only. (Gradio prefixes every rule with
   its own container class, so no .gradio-container here.) */
@media (max-width: 640px) {
  .row {flex-direction: column !important; flex-wrap: nowrap !important;}
  .row > *, .column {width: 100% !important; min-width: 0 !important; flex: 1 1 auto !important;}
  .prose table {display: block; overflow-x: auto; max-width: 100%;}
  .prose td:first-child, .prose th {word-break: keep-all; overflow-wrap: normal; hyphens: none; white-space: nowrap;}
  .prose td {overflow-wrap: anywhere;}
  .js-plotly-plot, .plot-container {max-width: 100%; overflow-x: auto;}
  .block:has(table) {max-width: 100%; overflow-x: auto;}   /* wide tables scroll inside their box */
  /* Tables of 3+ columns (ablation summary) scroll sideways, so their cells need not wrap into
     tall narrow columns; dataframe headers keep whole words ("aux_layer", not "au / x_ / la…"). */
  .prose table:has(th:nth-child(3)) td, .prose table:has(th:nth-child(3)) th {
    white-space: nowrap !important; overflow-wrap: normal !important; word-break: normal !important;}
  [role=columnheader] .header-content, [role=columnheader] .header-content span {
    white-space: nowrap !important; overflow-wrap: normal !important; word-break: keep-all !important;}
  .tabitem, .column {max-width: 100%;}
}
"""


def build_app(catalog: Optional[Catalog] = None, zoo_dir: Optional[Union[str, Path]] = None,
              max_eval: int = DEFAULT_MAX_EVAL, data_dir: Optional[Union[str, Path]] = None,
              session_ttl: float = DEFAULT_SESSION_TTL_S) -> gr.Blocks:
    """The dashboard as a gr.Blocks (not launched). ``catalog`` / ``zoo_dir`` inject the models
    (tests use a tiny zoo); by default the bundled zoo. ``data_dir``: the only server folder whose
    datasets the Your-data tab may read."""
    catalog = catalog or Catalog(zoo_dir)
    with gr.Blocks(title=TITLE) as demo:
        ctx = AppContext(catalog, max_eval, UserData(data_dir), session_ttl)
        gr.Markdown(f"# {TITLE}\nMultimodal Pathway: improve a transformer with the weights of a transformer trained "
                    "on another modality, y = x(W + λ·W')ᵀ + b, one learnable λ per layer, merged away after "
                    "training.", elem_id="m2pt-header")
        if not catalog.zoo_names():
            gr.Markdown(f"⚠️ No zoo models found in `{catalog.zoo_path}`. Build them with `m2pt zoo build`, or "
                        "train a pair in the **Train** tab.")
        with gr.Tabs() as tabs:
            ctx.c["tabs"] = tabs
            with gr.Tab("Models", id="models"):
                models.build(ctx)
            with gr.Tab("Pathways", id="pathways"):
                pathways.build(ctx)
            with gr.Tab("Weights", id="weights"):
                weights.build(ctx)
            with gr.Tab("Try a sample", id="sample"):
                sample.build(ctx)
            with gr.Tab("Train", id="train"):
                train.build(ctx)
            with gr.Tab("Ablation", id="ablation"):
                ablation.build(ctx)
            with gr.Tab("Your data", id="data"):
                data.build(ctx)
            with gr.Tab("Export", id="export"):
                export.build(ctx)
        _wire_refresh(demo, ctx)
    return demo


def _wire_refresh(demo: gr.Blocks, ctx: AppContext) -> None:
    """After a model is opened (on page load or by the Open button) redraw the other panels."""
    select_fn, outputs = ctx.c["select_fn"], ctx.c["select_outputs"]

    def open_default(state, request: gr.Request):
        session = ctx.session(state)
        ctx.register_page(request, session)
        name, aux_name = ctx.catalog.default_pair()
        if name is None:
            return (session, "No model to open yet.", *[gr.update()] * (len(outputs) - 2))
        aux_name = session.default_aux(name) if aux_name is None else aux_name
        return select_fn(session, name, aux_name)

    load = demo.load(open_default, [ctx.state], outputs, api_visibility="private")
    demo.unload(ctx.page_closed)
    # The cheap one first: the bundled samples match the open model at once.
    views = [(ctx.touching(fn, outs), ins)
             for fn, ins, outs in (ctx.c["sample_refresh"], ctx.c["pathways_refresh"], ctx.c["weights_refresh"])]
    for event in (load, ctx.c["select_event"], *ctx.c.get("more_select_events", [])):
        for wired, ins in views:
            event = event.then(**wired, inputs=ins, api_visibility="private")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("M2PT_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("M2PT_PORT", "7860")))
    p.add_argument("--zoo", default=None, help="zoo folder (default: $M2PT_ZOO_DIR or assets/zoo)")
    p.add_argument("--max-eval", type=int, default=DEFAULT_MAX_EVAL,
                   help="cap on validation items used for λ scoring (the whole split when a slider move over it fits "
                        "the latency budget; else a fixed stratified subset)")
    p.add_argument("--data-dir", default=os.environ.get("M2PT_DATA_DIR"),
                   help="folder of your datasets (folders, manifests, archives) the Your-data and Train tabs may read; "
                        "nothing outside it is readable (default: $M2PT_DATA_DIR, else none)")
    p.add_argument("--models-dir", action="append", default=[],
                   help="a folder whose checkpoints may be opened by path (repeatable; the zoo always is)")
    p.add_argument("--cache-mb", type=int, default=DEFAULT_CACHE_BYTES // 2**20,
                   help="memory for cached evaluations shared by all sessions (LRU; 'busy' when in use)")
    p.add_argument("--session-ttl", type=float, default=DEFAULT_SESSION_TTL_S,
                   help="seconds a session is kept after its last use")
    p.add_argument("--lambda-bound", type=float, default=LAMBDA_BOUND, help="largest |λ| a user may set")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, help="largest upload accepted")
    return p.parse_args(argv)


def exposure_note(host: str, catalog: Catalog) -> Optional[str]:
    """The start-up line naming the folders a remote user can read by path (None on loopback)."""
    if host in ("127.0.0.1", "localhost", "::1"):
        return None
    folders = ", ".join(str(r) for r in catalog.roots())
    return (f"M2PT Explorer is reachable from other machines ({host}). Anyone who can open it can read "
            f"model and data files by path from: {folders}. Nothing else on this machine is readable.")


def launch(demo: gr.Blocks, host: str, port: int, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, **kwargs):
    """Queue (long jobs, progress, cancel) and serve; theme and css go to launch() in Gradio 6.
    Uploads larger than ``max_upload_mb`` are refused by Gradio before they reach the app."""
    demo.queue(default_concurrency_limit=2)
    return demo.launch(server_name=host, server_port=port, theme=gr.themes.Soft(), css=CSS,
                       footer_links=["api"], max_file_size=int(max_upload_mb * 2**20), **kwargs)


def limit_allocator_growth(arenas: int = 2, mmap_threshold: int = 1 << 20) -> bool:
    """glibc only: at most ``arenas`` malloc arenas, and blocks ≥ ``mmap_threshold`` bytes (hidden
    states, activations) mapped and returned to the system when freed. Without it, every worker
    thread's arena keeps its peak, and a server under many users grows wave after wave (measured
    with benchmarks/serving_load.py, 16 users, distinct λ: 2.3 → 3.1 → 4.2 GB; with it 1.5 GB flat)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_arena_max, m_mmap_threshold = -8, -3          # glibc's mallopt parameter numbers
        return bool(libc.mallopt(m_arena_max, arenas)) and bool(libc.mallopt(m_mmap_threshold, mmap_threshold))
    except (OSError, AttributeError):                  # not glibc: nothing to tune
        return False


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    limit_allocator_growth()
    import torch
    from m2pt_core.data.threads import pin_threads
    # Jobs run two at a time in this process: the thread count is set once here and never per job.
    pin_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    from m2pt_core.explorer.data import measure_slider_budget
    # The page's rule (the whole validation split only when a λ move over it fits < 1 s), measured
    # on this machine with the threads it serves with.
    budget = measure_slider_budget(seconds=1.0)
    catalog = Catalog(args.zoo, cache_bytes=args.cache_mb * 2**20, lambda_bound=args.lambda_bound,
                      exposed_dirs=[*args.models_dir, *([args.data_dir] if args.data_dir else [])],
                      slider_budget=budget)
    print(f"λ moves: {budget // (6 * 17 * 192 ** 2)} items of a demo-size model fit the 1 s budget per move here.",
          flush=True)
    note = exposure_note(args.host, catalog)
    if note:
        print(note, flush=True)
    launch(build_app(catalog, max_eval=args.max_eval, data_dir=args.data_dir, session_ttl=args.session_ttl),
           args.host, args.port, max_upload_mb=args.max_upload_mb)


if __name__ == "__main__":
    main()
