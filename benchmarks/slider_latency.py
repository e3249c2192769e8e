"""How long a dashboard λ-slider move takes on the bundled zoo, scoring the whole validation split.

    python benchmarks/slider_latency.py                 # every zoo target, 2 threads
    python benchmarks/slider_latency.py --names m2pt-mnist5k-audio --max-eval 500

Each target is opened as the dashboard opens it (ExplorerSession.select: its own auxiliary, or the
image model as auxiliary for plain targets), then λ of layer 0 (the worst case: every block re-runs)
is moved three times; the median is reported, wall and process CPU time, including the paired
intervals against the learned λ and the baseline. The budget is < 1 s per move on 2 cores. On a
shared machine wall time grows with the load; the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch

from m2pt_core.explorer import Catalog, ExplorerSession


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--names", nargs="*", default=None, help="zoo targets (default: all)")
    p.add_argument("--max-eval", type=int, default=100_000, help="cap on validation items (default: whole split)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    catalog = Catalog()
    names = args.names or catalog.zoo_names()
    print(f"{args.threads} threads; load average before {os.getloadavg()[0]:.2f}")
    rows = []
    for name in names:
        s = ExplorerSession(catalog, max_eval=args.max_eval)
        aux = s.default_aux(name)
        if aux == "(none)":
            aux = "image-mnist5k" if name != "image-mnist5k" else "audio-sounds"
        t = time.perf_counter()
        s.select(name, aux)
        opened = time.perf_counter() - t
        key = s.lambda_keys()[0]                                   # "layer 0 · all"
        base = s.current_lambda(key)
        wall, cpu = [], []
        for step in (0.05, 0.1, 0.15):
            w, c = time.perf_counter(), time.process_time()
            s.set_lambda(key, base + step)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        rows.append({"target": name, "auxiliary": aux, "items": s.last.n, "data": s.last.data,
                     "open s": opened, "slider wall s": float(np.median(wall)),
                     "slider CPU s": float(np.median(cpu)), "paired intervals s": _interval_time(s)})
        s.close()
    print(pd.DataFrame(rows).drop(columns="data").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"load average after {os.getloadavg()[0]:.2f}")


def _interval_time(s: ExplorerSession) -> float:
    """The share of a move spent on the two paired comparisons (bootstrap + McNemar)."""
    from m2pt_core.explorer.scoring import item_results, make_score
    items = item_results(s.evaluator.logits, s.data.y)
    t = time.perf_counter()
    make_score({"acc": 0.0, "n": s.last.n}, items, s.learned_items, s.baseline_items, s.data, 6, 0.0, None)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
