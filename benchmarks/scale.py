"""M2PT at the paper's scale: a ViT-B/16 target with a ViT-B/16 auxiliary, baseline vs M2PT.

    python benchmarks/scale.py [--threads 2] [--batch 4] [--steps 4] [--workdir DIR] [--out JSON]
                               [--cuda-batch 64] [--cuda-steps 20] [--cuda-compile off|on|both] [--no-cuda]
                               [--parts memory time cuda]

Weights: two timm ``vit_base_patch16_224`` models with random weights (seeds 0 and 1), written once
as timm-layout .safetensors files into --workdir (nothing is downloaded; real pretrained files of the
same shape behave the same for every number here). The target is loaded as a user's would be
(``load_pretrained_target``), the auxiliary attached from its file (``attach_pathways(target, path)``).

CPU part (always):
- memory, one fresh process per variant (baseline; M2PT with W' trainable; W' frozen; W' frozen in
  bf16): load time and peak RSS over the file size, attach time and its peak over the auxiliary
  file, and the process's peak RSS through ``--steps`` AdamW training steps (the project's
  ``build_optimizer``, fp32, batch --batch). Extra peak = peak(variant) − peak(baseline), compared
  with what the pathways must hold: 4·|W'| trainable (weight, gradient, two Adam moments), 1·|W'|
  frozen (½·|W'| in bf16). Goal: within 1.25× of it.
- time, one process, variants interleaved step by step (a load change on the shared machine hits
  every variant alike): training-step ratio M2PT / baseline (goal ≤ 1.10) and merged-inference ratio
  (goal 1.00 ± noise), medians.

CUDA part (only when a GPU is present; nothing else depends on it): bf16 autocast, batch
--cuda-batch, torch.compile off and on: training and merged-inference throughput in images/s and
peak allocated memory per variant.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pathway_overhead import infer_fn  # noqa: E402  (the shared timing helpers)

from m2pt_core import attach_pathways, merge_pathways, set_lambdas  # noqa: E402
from m2pt_core.pretrained import load_pretrained_target  # noqa: E402
from m2pt_core.train import TrainConfig, build_optimizer  # noqa: E402

MB = 2 ** 20
TIMM_NAME = "vit_base_patch16_224"
# variant → attach_pathways keywords (None: the baseline, no pathways)
VARIANTS: dict[str, Optional[dict[str, Any]]] = {
    "baseline": None,
    "trainable": {"aux_trainable": True},
    "frozen": {"aux_trainable": False},
    "frozen_bf16": {"aux_trainable": False, "aux_dtype": torch.bfloat16},
}
# How many |W'| each variant must hold during a training step.
MINIMUM_FACTOR = {"trainable": 4.0, "frozen": 1.0, "frozen_bf16": 0.5}


def write_weights(workdir: Path, name: str = TIMM_NAME, **timm_kwargs: Any) -> tuple[Path, Path]:
    """Target and auxiliary timm ViT files (random weights, seeds 0 and 1), made once."""
    import timm
    from safetensors.torch import save_file
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for role, seed in (("target", 0), ("aux", 1)):
        path = workdir / f"{name}_{role}.safetensors"
        if not path.is_file():
            torch.manual_seed(seed)
            model = timm.create_model(name, pretrained=False, **timm_kwargs)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
            del model
        paths.append(path)
    return paths[0], paths[1]


def aux_linear_bytes(model: torch.nn.Module) -> int:
    """|W'| in bytes: the auxiliary weights the pathways hold (fp32, as the target's weights)."""
    return sum(m.aux_weight.numel() * 4 for m in model.modules() if hasattr(m, "aux_weight"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # Linux: KiB


def build(variant: str, target_path: Path, aux_path: Path, lam: float = 0.05) -> tuple[torch.nn.Module, dict]:
    """The variant's model from the two files, with load / attach times and memory."""
    info: dict[str, Any] = {}
    before = rss_mb()
    t = time.perf_counter()
    model, _ = load_pretrained_target(str(target_path), num_classes=10, modality="image")
    info.update(load_s=time.perf_counter() - t, load_peak_mb=peak_rss_mb() - before,
                target_file_mb=target_path.stat().st_size / MB)
    kwargs = VARIANTS[variant]
    if kwargs is not None:
        before = rss_mb()
        t = time.perf_counter()
        attach_pathways(model, str(aux_path), **kwargs)
        info.update(attach_s=time.perf_counter() - t, attach_peak_mb=peak_rss_mb() - before,
                    attach_rss_mb=rss_mb() - before, aux_file_mb=aux_path.stat().st_size / MB,
                    aux_mb=aux_linear_bytes(model) / MB)
        set_lambdas(model, lam)
    return model, info


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               autocast: Optional[torch.dtype] = None) -> Callable[[], None]:
    """One AdamW step of the project's optimizer (λ group included), optionally under autocast."""
    opt = build_optimizer(model, TrainConfig(lr=1e-4, progress=False))

    def step() -> None:
        with torch.autocast(x.device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def worker(variant: str, target_path: Path, aux_path: Path, batch: int, steps: int) -> dict:
    """Runs in a fresh process: the variant's load, attach and training-step peak memory."""
    model, info = build(variant, target_path, aux_path)
    model.train()
    torch.manual_seed(0)
    x, y = torch.randn(batch, *model.config.input.input_shape), torch.randint(0, 10, (batch,))
    step = train_step(model, x, y)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    info.update(variant=variant, peak_mb=peak_rss_mb(), step_s=statistics.median(times))
    return info


def _worker_env() -> dict[str, str]:
    """glibc's malloc keeps freed chunks below its (growing) mmap threshold in the heap, so a process's
    RSS then also measures the allocator's history (measured here: a frozen W' showed +540 MB instead
    of +338 MB). A fixed 1 MiB threshold returns every freed tensor buffer to the system, so the peak
    RSS measures live tensors, for the baseline and every variant alike."""
    return {**os.environ, "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", "1048576")}


def memory_part(args: argparse.Namespace, target_path: Path, aux_path: Path) -> dict[str, dict]:
    out = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--worker", variant, "--workdir", str(args.workdir),
               "--batch", str(args.batch), "--steps", str(args.steps), "--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_worker_env())
        if res.returncode != 0:
            raise RuntimeError(f"worker {variant} failed:\n{res.stderr[-2000:]}")
        out[variant] = json.loads(res.stdout.strip().splitlines()[-1])
    base = out["baseline"]["peak_mb"]
    for variant, factor in MINIMUM_FACTOR.items():
        r = out[variant]
        r["extra_peak_mb"] = r["peak_mb"] - base
        r["minimum_mb"] = factor * r["aux_mb"] if variant != "frozen_bf16" else factor * out["trainable"]["aux_mb"]
        r["extra_over_minimum"] = r["extra_peak_mb"] / r["minimum_mb"]
        r["attach_peak_over_file"] = r["attach_peak_mb"] / r["aux_file_mb"]
    for r in out.values():
        r["load_peak_over_file"] = r["load_peak_mb"] / r["target_file_mb"]
    return out


def interleaved_wall_cpu(fns: dict[str, Callable[[], None]], steps: int, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Median wall and process-CPU seconds per call, the variants taking turns (CPU only). On a
    shared machine the wall time also counts the time other jobs hold the cores; the CPU time of
    this process does not, so the two ratios bracket the cost."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(steps):
        for k, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - w)
            cpu[k].append(time.process_time() - c)
    return {k: {"wall": statistics.median(wall[k]), "cpu": statistics.median(cpu[k])} for k in fns}


def time_part(args: argparse.Namespace, target_path: Path, aux_path: Path) -> dict[str, float]:
    """Interleaved medians in one process: training-step and merged-inference ratios (wall and CPU)."""
    models = {v: build(v, target_path, aux_path)[0] for v in ("baseline", "trainable", "frozen")}
    torch.manual_seed(0)
    x = torch.randn(args.batch, *models["baseline"].config.input.input_shape)
    y = torch.randint(0, 10, (args.batch,))
    train = interleaved_wall_cpu({v: train_step(m.train(), x, y) for v, m in models.items()}, args.steps)
    merged = merge_pathways(copy.deepcopy(models["trainable"]))
    for v in ("trainable", "frozen"):
        del models[v]
    infer = interleaved_wall_cpu({"baseline": infer_fn(models["baseline"], x), "merged": infer_fn(merged, x)},
                                 args.steps)
    out = {"load_average": os.getloadavg()[0]}
    for clock in ("wall", "cpu"):
        out.update({f"train_baseline_{clock}_s": train["baseline"][clock],
                    f"train_trainable_{clock}_ratio": train["trainable"][clock] / train["baseline"][clock],
                    f"train_frozen_{clock}_ratio": train["frozen"][clock] / train["baseline"][clock],
                    f"infer_baseline_{clock}_s": infer["baseline"][clock],
                    f"infer_merged_{clock}_ratio": infer["merged"][clock] / infer["baseline"][clock]})
    return out


def accelerator_part(target_path: Path, aux_path: Path, device: torch.device, batch: int, steps: int,
                     compile_modes: tuple[bool, ...] = (False, True), autocast: torch.dtype = torch.bfloat16
                     ) -> list[dict]:
    """Throughput (images/s) and peak allocated memory per variant on ``device`` under autocast,
    torch.compile off / on. Written for CUDA; runs on any device (tests drive it on CPU, small)."""
    rows = []
    cuda = device.type == "cuda"
    for compiled in compile_modes:
        for variant in ("baseline", "trainable", "frozen", "frozen_bf16"):
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            model = build(variant, target_path, aux_path)[0].to(device).train()
            run = torch.compile(model) if compiled else model
            x = torch.randn(batch, *model.config.input.input_shape, device=device)
            y = torch.randint(0, 10, (batch,), device=device)
            step = train_step(run, x, y, autocast=autocast)
            train_s = _timed(step, steps, device)
            row = {"compile": compiled, "variant": variant, "batch": batch, "train_img_s": batch / train_s}
            if cuda:
                row["train_peak_mb"] = torch.cuda.max_memory_allocated(device) / MB
            if variant == "trainable":
                merged = merge_pathways(copy.deepcopy(model)).eval()
                merged_run = torch.compile(merged) if compiled else merged

                def infer() -> None:
                    with torch.inference_mode(), torch.autocast(device.type, dtype=autocast):
                        merged_run(x)
                row["merged_infer_img_s"] = batch / _timed(infer, steps, device)
                del merged, merged_run
            if variant == "baseline":
                model.eval()

                def infer_base() -> None:
                    with torch.inference_mode(), torch.autocast(device.type, dtype=autocast):
                        run(x)
                row["infer_img_s"] = batch / _timed(infer_base, steps, device)
            rows.append(row)
            del model, run, step
    return rows


def _timed(fn: Callable[[], None], steps: int, device: torch.device, warmup: int = 3) -> float:
    """Median seconds per call after warm-up (compilation happens in the warm-up)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def print_report(result: dict) -> None:
    print(f"\nViT-B/16 target + ViT-B/16 auxiliary, CPU, {result['threads']} threads, batch {result['batch']}, "
          f"AdamW fp32, {result['steps']} steps")
    if "memory" in result:
        _print_memory(result["memory"])
    if "time" in result:
        tm = result["time"]
        for clock in ("wall", "cpu"):
            print(f"{clock:4}: train step (baseline) {tm[f'train_baseline_{clock}_s']:.2f} s; ratio trainable "
                  f"{tm[f'train_trainable_{clock}_ratio']:.3f}, frozen {tm[f'train_frozen_{clock}_ratio']:.3f}; merged "
                  f"inference ratio {tm[f'infer_merged_{clock}_ratio']:.3f} (baseline {tm[f'infer_baseline_{clock}_s']:.2f} s)")
        print(f"load average at the end {tm['load_average']:.1f} (2 cores)")
    for row in result.get("cuda", []):
        print("cuda", row)


def _print_memory(mem: dict) -> None:
    b = mem["baseline"]
    print(f"load target: {b['load_s']:.2f} s, peak {b['load_peak_mb']:.0f} MB for a {b['target_file_mb']:.0f} MB file "
          f"(×{b['load_peak_over_file']:.2f})")
    print(f"{'variant':12} {'attach s':>8} {'attach peak/file':>16} {'|W′| MB':>8} {'extra peak MB':>13} "
          f"{'minimum MB':>10} {'extra/min':>9}")
    for v in MINIMUM_FACTOR:
        r = mem[v]
        print(f"{v:12} {r['attach_s']:8.2f} {r['attach_peak_over_file']:16.2f} {r['aux_mb']:8.0f} "
              f"{r['extra_peak_mb']:13.0f} {r['minimum_mb']:10.0f} {r['extra_over_minimum']:9.2f}")
    print(f"baseline peak {b['peak_mb']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "m2pt_scale")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cuda-batch", type=int, default=64)
    ap.add_argument("--cuda-steps", type=int, default=20)
    ap.add_argument("--no-cuda", action="store_true", help="skip the CUDA part even when a GPU is present")
    ap.add_argument("--cuda-compile", choices=("off", "on", "both"), default="both",
                    help="torch.compile in the CUDA part (default both; each compiled variant adds a compile, ~1 min)")
    ap.add_argument("--out", type=Path, default=None, help="write all numbers as JSON here")
    ap.add_argument("--parts", nargs="+", default=["memory", "time", "cuda"], choices=["memory", "time", "cuda"],
                    help="which parts to run (default all; cuda only when a GPU is present)")
    ap.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    target_path, aux_path = write_weights(args.workdir)
    if args.worker:
        print(json.dumps(worker(args.worker, target_path, aux_path, args.batch, args.steps)))
        return
    result: dict[str, Any] = {"threads": args.threads, "batch": args.batch, "steps": args.steps,
                              "torch": torch.__version__}
    if "memory" in args.parts:
        result["memory"] = memory_part(args, target_path, aux_path)
    if "time" in args.parts:
        result["time"] = time_part(args, target_path, aux_path)
    if torch.cuda.is_available() and not args.no_cuda and "cuda" in args.parts:
        result["cuda_device"] = torch.cuda.get_device_name(0)
        modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.cuda_compile]
        result["cuda"] = accelerator_part(target_path, aux_path, torch.device("cuda"), args.cuda_batch, args.cuda_steps,
                                          compile_modes=modes)
    print_report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
