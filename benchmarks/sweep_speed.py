"""How much faster the cached λ sweep is than the naive loop, and how long a slider move takes.

    python benchmarks/sweep_speed.py                       # demo size, 1,000 samples, 9 values
    python benchmarks/sweep_speed.py --samples 200 --grid 5 # a quicker look

Intervals: every sweep point and knockout cell also gets a paired bootstrap interval against the
model as it is (analysis/intervals.py), from per-item results kept during the cached pass. The
last table times that step alone (same shapes: points × samples, 1,000 resamples) next to the
whole sweep / knockout map that includes it; the budget is ≤ 10 % of their time.

Cached: m2pt_core.analysis.lambda_sweep (hidden states entering block k computed once; each grid
value runs blocks k..L only; λ overridden in place). Naive: for each (layer, value) deep-copy the
model, set λ, run the full forward over the set. Both must give the same accuracies and losses.
Uses the zoo's M2PT model when the zoo is built (``--zoo NAME``), else a demo-size image model with
an audio auxiliary and random λ ~ N(0, 0.05²). Inputs and labels are random either way: the
timing does not depend on them.
"""
from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import pandas as pd
import torch

from m2pt_core import attach_pathways, create_model, get_lambdas, set_lambdas
from m2pt_core.analysis import IncrementalEvaluator, evaluate_tensors, knockout_map, lambda_sweep
from m2pt_core.analysis.intervals import N_BOOT, RESAMPLE_CACHE_BYTES, paired_columns, use_resample_cache
from m2pt_core.byte_cache import SharedCache


def build_model(args: argparse.Namespace) -> tuple[torch.nn.Module, str]:
    if args.zoo:
        try:
            from m2pt_core import zoo
            if args.zoo in zoo.model_names():
                return zoo.load(args.zoo, device="cpu"), f"zoo model {args.zoo}"
        except ImportError:
            pass
    torch.manual_seed(0)
    model = create_model(args.size, "image", 10)
    attach_pathways(model, create_model(args.size, "audio", 10))
    g = torch.Generator().manual_seed(1)
    set_lambdas(model, {n: float(torch.randn((), generator=g)) * 0.05 for n in get_lambdas(model)})
    return model, f"random {args.size} image model + audio aux, λ ~ N(0, 0.05²)"


def naive_sweep(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, grid: list[float],
                batch_size: int) -> pd.DataFrame:
    """The loop the cached sweep replaces: a full model copy and forward per (layer, value)."""
    rows = []
    for layer in range(len(model.blocks)):
        for v in grid:
            m = copy.deepcopy(model)
            set_lambdas(m, v, layers=[layer])
            rows.append({"layer": layer, "value": v, **evaluate_tensors(m, X, y, batch_size)})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="demo")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--grid", type=int, default=9, help="grid values per layer (absolute λ in [-0.2, 0.2])")
    p.add_argument("--slider-samples", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--round-size", type=int, default=250, help="samples per timing round (cached and naive alternate)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--zoo", default="m2pt-mnist5k-audio", help="zoo model to prefer if the zoo is built ('' = never)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model, what = build_model(args)
    model.eval()
    shape = model.config.input.input_shape
    g = torch.Generator().manual_seed(2)
    X = torch.randn(args.samples, *shape, generator=g)
    y = torch.randint(0, model.num_classes, (args.samples,), generator=g)
    grid = np.linspace(-0.2, 0.2, args.grid).round(6).tolist()
    L = len(model.blocks)
    print(f"{what}; depth {L}; {args.samples} samples of shape {tuple(shape)}; grid {grid}; "
          f"{args.threads} threads; load average before {os.getloadavg()[0]:.2f}")

    evaluate_tensors(model, X[:64], y[:64])    # warm-up: first-call allocations and kernel choice
    # The CPU is shared, so load drifts: time both methods round by round on the same slice of
    # the set (cached, then naive), and add up. Wall and process CPU time are both reported.
    t_fast = t_slow = c_fast = c_slow = 0.0
    fast_parts, slow_parts = [], []
    for i in range(0, args.samples, args.round_size):
        Xi, yi = X[i:i + args.round_size], y[i:i + args.round_size]
        w, c = time.perf_counter(), time.process_time()
        fast_parts.append(lambda_sweep(model, Xi, yi, grid=grid, mode="absolute", batch_size=args.batch_size).assign(n=len(yi)))
        t_fast += time.perf_counter() - w
        c_fast += time.process_time() - c
        w, c = time.perf_counter(), time.process_time()
        slow_parts.append(naive_sweep(model, Xi, yi, grid, args.batch_size))
        t_slow += time.perf_counter() - w
        c_slow += time.process_time() - c
    fast, slow = (pd.concat(parts).assign(correct=lambda d: d.acc * d.n, loss_sum=lambda d: d.loss * d.n)
                  .groupby(["layer", "value"], as_index=False)[["correct", "loss_sum", "n"]].sum()
                  .assign(acc=lambda d: d.correct / d.n, loss=lambda d: d.loss_sum / d.n)
                  for parts in (fast_parts, slow_parts))
    merged = fast.merge(slow, on=["layer", "value"], suffixes=("_cached", "_naive"))
    assert len(merged) == L * len(grid)
    np.testing.assert_allclose(merged["acc_cached"], merged["acc_naive"], atol=1e-9)
    np.testing.assert_allclose(merged["loss_cached"], merged["loss_naive"], rtol=1e-4, atol=1e-5)

    # Slider move: change one λ, re-evaluate. Worst case is layer 0 (every block reruns).
    n = min(args.slider_samples, args.samples)
    ev = IncrementalEvaluator(model, X[:n], y[:n], batch_size=args.batch_size)
    names = list(get_lambdas(model))
    moves = {}
    for layer in (0, L // 2, L - 1):
        name = next(nm for nm in names if nm.startswith(f"blocks.{layer}."))
        old = get_lambdas(model)[name]
        times = []
        for step in (0.01, 0.02, 0.03):   # median of three moves
            set_lambdas(model, {name: old + step})
            t = time.perf_counter()
            ev.evaluate()
            times.append(time.perf_counter() - t)
        moves[layer] = float(np.median(times))
        set_lambdas(model, {name: old})
        ev.evaluate()
    full = time.perf_counter()
    evaluate_tensors(model, X[:n], y[:n], args.batch_size)
    full = time.perf_counter() - full

    table = pd.DataFrame([
        {"measure": f"per-layer sweep, {L} layers x {len(grid)} values, {args.samples} samples: cached, wall", "seconds": t_fast},
        {"measure": "same sweep: naive (deep copy + full forward per point), wall", "seconds": t_slow},
        {"measure": "speed-up (naive / cached), wall time", "seconds": t_slow / t_fast},
        {"measure": "speed-up (naive / cached), process CPU time", "seconds": c_slow / c_fast},
        *[{"measure": f"slider move at layer {k}, {n} samples", "seconds": s} for k, s in moves.items()],
        {"measure": f"full evaluation, {n} samples (for reference)", "seconds": full},
    ])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ideal = L * L / (L * (L + 1) / 2)
    print(f"Expected speed-up from prefix caching alone at depth {L} (blocks run per value: L vs (L+1)/2): "
          f"{ideal:.2f}x; the cls-only last block (token-pooling heads) saves about 3/4 block more per point.")
    print(f"cached and naive results agree (max |Δacc| = {abs(merged.acc_cached - merged.acc_naive).max():.2g}, "
          f"max |Δloss| = {abs(merged.loss_cached - merged.loss_naive).max():.2g}); "
          f"load average after {os.getloadavg()[0]:.2f}")
    interval_overhead(model, X, y, grid, args.batch_size)


def _interval_seconds(points: int, n: int, repeats: int = 3) -> float:
    """Median time of the paired-interval step for ``points`` settings on ``n`` items."""
    g = np.random.default_rng(0)
    ref_c, ref_l = g.random(n) < 0.8, g.random(n)
    c, l = g.random((points, n)) < 0.8, g.random((points, n))
    times = []
    for _ in range(repeats):
        use_resample_cache(SharedCache(RESAMPLE_CACHE_BYTES))   # worst case: the resamples are drawn afresh
        t = time.perf_counter()
        paired_columns(ref_c, ref_l, c, l, n_boot=N_BOOT)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def interval_overhead(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, grid: list[float],
                      batch_size: int) -> None:
    """Whole sweep / knockout (intervals included) and the interval step alone."""
    rows = []
    for what, run in [("per-layer λ sweep", lambda: lambda_sweep(model, X, y, grid=grid, mode="absolute",
                                                                 batch_size=batch_size)),
                      ("knockout map", lambda: knockout_map(model, X, y, batch_size=batch_size))]:
        t = time.perf_counter()
        table = run()
        total = time.perf_counter() - t
        iv = _interval_seconds(len(table), len(y))
        rows.append({"analysis": what, "points": len(table), "samples": len(y), "total s (with intervals)": total,
                     "interval step s": iv, "share of total": iv / total, "added to the rest": iv / (total - iv)})
    print(f"\nPaired intervals ({N_BOOT} bootstrap resamples, per-item results from the cached pass):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
