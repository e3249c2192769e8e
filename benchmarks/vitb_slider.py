"""The dashboard's λ-move engine at ViT-B/16 on CPU: what one slider move costs with a ViT-B pair.

    python benchmarks/vitb_slider.py [--items 16] [--threads 2] [--cache-mb 4096]

Drives the dashboard's own evaluator (``m2pt_core.explorer.evaluation.SharedEvaluator``, the code
behind every λ slider, knockout cell and sweep point) on a ViT-B/16 target with a frozen ViT-B/16
auxiliary (the two files benchmarks/scale.py writes; made here if missing) and ``--items`` random
224 px images: the first score (every block's states, cached), a λ move on block 0 (all 12 blocks
re-run, the worst case) and on block 11 (one block), and the bytes the cached states take per item.
A knockout or a sweep is that many such evaluations. This is the engine, not the browser: the page
was not driven with a ViT-B pair in this round.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import write_weights  # noqa: E402

from m2pt_core.explorer.cache import SharedCache  # noqa: E402
from m2pt_core.explorer.evaluation import SharedEvaluator  # noqa: E402
from m2pt_core.pathways import attach_pathways, set_lambdas  # noqa: E402
from m2pt_core.pretrained import load_pretrained_target  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "m2pt_scale")
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-mb", type=int, default=4096)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    target_path, aux_path = write_weights(args.workdir)
    model, _ = load_pretrained_target(str(target_path), num_classes=10, modality="image")
    attach_pathways(model, str(aux_path), aux_trainable=False)     # as the dashboard attaches: frozen
    model.eval()
    torch.manual_seed(0)
    X, y = torch.randn(args.items, *model.config.input.input_shape), torch.randint(0, 10, (args.items,))
    cache = SharedCache(args.cache_mb * 2 ** 20)
    ev = SharedEvaluator(model, X, y, "vitb", cache, owner="bench")
    rows = []
    t = time.perf_counter()
    ev.evaluate()
    rows.append(("first score (all states computed and cached)", time.perf_counter() - t, 0))
    for layer, value in ((0, 0.05), (0, 0.1), (11, 0.05), (11, 0.1)):
        set_lambdas(model, value, layers=[layer])
        t = time.perf_counter()
        r = ev.evaluate()
        rows.append((f"λ move, block {layer}", time.perf_counter() - t, r["recomputed_from"]))
        set_lambdas(model, 0.0, layers=[layer])
    print(f"ViT-B/16 + frozen ViT-B/16 auxiliary, {args.items} items of 3×224×224, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    for what, s, start in rows:
        print(f"  {what:48} {s:7.2f} s   {s / args.items:6.3f} s/item   (blocks re-run from {start})")
    print(f"  cached states: {cache.used / 2 ** 20:.0f} MB, {cache.used / args.items / 2 ** 20:.1f} MB per item")


if __name__ == "__main__":
    main()
