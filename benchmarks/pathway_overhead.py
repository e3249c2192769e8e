"""Cost of pathways: training-step time M2PT / baseline (aux trainable and frozen), and inference
time merged / baseline, on the demo and small6 sizes (image modality).

    python benchmarks/pathway_overhead.py [--sizes demo small6] [--batch 64] [--steps 20]

Timings are medians over interleaved repeats (baseline, M2PT, ... in turn), so a load change on
the machine hits every variant alike. Targets: training ≤ 1.10, merged inference 1.00 ± noise.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from m2pt_core import attach_pathways, create_model, merge_pathways, pick_device, set_lambdas


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step_fn(model, x, y):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def infer_fn(model, x):
    model.eval()

    def step():
        with torch.inference_mode():
            model(x)
    return step


def interleaved_medians(fns: dict, steps: int, device: torch.device, warmup: int = 3) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(steps):
        for k, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_size(size: str, batch: int, steps: int, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    base = create_model(size, "image", 10).to(device)
    aux = create_model(size, "audio", 10).to(device)
    m2pt = copy.deepcopy(base)
    attach_pathways(m2pt, aux, aux_trainable=True)
    frozen = copy.deepcopy(base)
    attach_pathways(frozen, aux, aux_trainable=False)
    for m in (m2pt, frozen):
        set_lambdas(m, 0.05)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    train = interleaved_medians({
        "baseline": train_step_fn(base, x, y),
        "m2pt_trainable": train_step_fn(m2pt, x, y),
        "m2pt_frozen": train_step_fn(frozen, x, y),
    }, steps, device)
    merged = merge_pathways(copy.deepcopy(m2pt))
    infer = interleaved_medians({"baseline": infer_fn(base, x), "merged": infer_fn(merged, x),
                                 "unmerged": infer_fn(m2pt, x)}, steps * 2, device)
    rows = []
    for k in ("m2pt_trainable", "m2pt_frozen"):
        rows.append({"size": size, "measure": f"train step {k} / baseline", "ms": 1e3 * train[k],
                     "baseline_ms": 1e3 * train["baseline"], "ratio": train[k] / train["baseline"]})
    for k in ("merged", "unmerged"):
        rows.append({"size": size, "measure": f"inference {k} / baseline", "ms": 1e3 * infer[k],
                     "baseline_ms": 1e3 * infer["baseline"], "ratio": infer[k] / infer["baseline"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["demo", "small6"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default=None, help="default: CUDA if present, else CPU")
    args = ap.parse_args()
    device = pick_device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} steps={args.steps} (medians)")
    print(f"{'size':8} {'measure':40} {'ms':>9} {'baseline ms':>12} {'ratio':>7}")
    for size in args.sizes:
        for r in bench_size(size, args.batch, args.steps, device):
            print(f"{r['size']:8} {r['measure']:40} {r['ms']:9.2f} {r['baseline_ms']:12.2f} {r['ratio']:7.3f}")


if __name__ == "__main__":
    main()
