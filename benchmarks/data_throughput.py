"""Items/s of a folder of files through ``open_dataset``: first pass (list, hash, decode and cache
in DataLoader workers) and cached pass (an epoch of batches read back from the cache), with the
peak memory of loading it, per modality; and whether the cached pass keeps a training step fed.

    python benchmarks/data_throughput.py                   # 3,000 files per modality, 2 workers
    python benchmarks/data_throughput.py --files 600 --modalities image audio

Folders are generated once (``--root``, default /tmp/m2pt_bench_data) from the built-in datasets
by ``m2pt_core.data.make_folder``: images as PNG, audio as 8 kHz WAV, point clouds as binary PLY,
video as MP4. Each measurement runs in a fresh process with an empty cache, so the first pass
really decodes; memory is the process's peak RSS above its RSS after imports (workers: their own
peak). "Flat with the number of files": the same measurement on a third of the files.
Data time of a training step = batch / cached items/s, against a demo-size train step (forward,
backward, AdamW) on the same batch with ``--threads`` threads.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = {"image": "mnist5k", "audio": "sounds", "pointcloud": "shapes3d", "video": "motion"}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def measure(folder: str, size: int | None, workers: int, batch: int, threads: int) -> dict:
    """One fresh process: first pass, cached pass, step time."""
    import torch
    torch.set_num_threads(threads)
    from m2pt_core import create_model
    from m2pt_core.data import open_dataset
    from m2pt_core.train.batches import iterate, permutation
    base = _rss_mb()
    t0 = time.perf_counter()
    ds = open_dataset(folder, "all", size=size, prepare=False)
    t_list = time.perf_counter() - t0
    t1 = time.perf_counter()
    ds.prepare(num_workers=workers)
    t_first = time.perf_counter() - t1
    n = len(ds)
    t2 = time.perf_counter()
    seen = 0
    for x, y in iterate(ds, permutation(n, 0, 0), batch, num_workers=0):   # as the train loop reads it
        seen += len(y)
    t_cached = time.perf_counter() - t2
    peak_main = _peak_mb(resource.RUSAGE_SELF) - base
    # a demo-size training step on one batch of this data
    model = create_model("demo", ds.modality, len(ds.classes), input=ds.spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xb, yb = next(iterate(ds, torch.arange(min(batch, n)), batch))
    times = []
    for _ in range(4):
        s = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - s)
    step = sorted(times[1:])[len(times[1:]) // 2]
    data_per_batch = batch * t_cached / max(seen, 1)
    return {"files": ds.provenance.extra["files"] if size is None else size, "items": n, "skipped": len(ds.skipped),
            "list_hash_s": round(t_list, 2), "first_pass_items_s": round(n / (t_list + t_first), 1),
            "decode_items_s": round(n / t_first, 1), "cached_items_s": round(seen / t_cached, 1),
            "peak_mb_main": round(peak_main, 1), "peak_mb_worker": round(_peak_mb(resource.RUSAGE_CHILDREN), 1),
            "step_s": round(step, 4), "data_s_per_batch": round(data_per_batch, 4),
            "data_share": round(data_per_batch / (data_per_batch + step), 4)}


def run_one(folder: Path, size: int | None, args: argparse.Namespace) -> dict:
    cache = tempfile.mkdtemp(prefix="m2pt_bench_cache_")
    env = {**os.environ, "M2PT_CACHE_DIR": cache, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, __file__, "--one", str(folder), "--workers", str(args.workers), "--batch", str(args.batch),
           "--threads", str(args.threads)] + (["--size", str(size)] if size else [])
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=3000, help="files per modality (default 3000)")
    p.add_argument("--modalities", nargs="+", default=list(BUILTIN))
    p.add_argument("--root", default="/tmp/m2pt_bench_data", help="where the generated folders live (reused)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the first pass (default 2)")
    p.add_argument("--batch", type=int, default=128, help="training batch (default 128, TrainConfig's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the train step (default 1: the workers have the other core)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.size, args.workers, args.batch, args.threads)))
        return
    sys.path.insert(0, str(ROOT))
    from m2pt_core.data.make_folder import write_folder
    rows = []
    for m in args.modalities:
        folder = Path(args.root) / f"{m}_{args.files}"
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            t = time.perf_counter()
            write_folder(BUILTIN[m], folder, args.files, bad=3, sample_rate=8000 if m == "audio" else None)
            (folder / ".complete").write_text("")
            print(f"[{m}] wrote {args.files} files in {time.perf_counter() - t:.0f}s", flush=True)
        for size in (args.files // 3, None):
            r = {"modality": m, **run_one(folder, size, args)}
            print(json.dumps(r), flush=True)
            rows.append(r)
    import pandas as pd
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
