"""Ablation tab logic: views of a (bundled or freshly run) ablation, and a small ablation job that
runs in a background thread with progress events and a Stop that keeps the finished arms."""
from __future__ import annotations

import os
import queue
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from .. import figures
from ..ablation import arm_deltas, plan_ablation, run_ablation
from ..ablation.summary import transfer_ratios
from ..ablation.bundled import AblationResult, bundled_names, load_bundled
from ..ablation.estimate import rank_agreement
from ..errors import M2PTError
from ..figures.ablation import ablation_curves, ablation_heatmap, estimate_scatter
from ..figures.ablation_controls import control_heatmap, has_controls
from ..pathways.aux_weights import AuxWeights
from ..sizes import get_size
from ..train import TrainConfig

LAUNCH_BY = ("component", "layer", "order", "depth-prefix", "depth-suffix", "all")
MAX_RUNS = 16


def bundled_choices(root: Optional[Union[str, Path]] = None) -> list[tuple[str, str]]:
    """(label, name) of every bundled ablation for a dropdown: calibrated ones (with a positive
    control) first, then those with the most arms, so the tab opens on the calibrated result."""
    out = []
    for name in bundled_names(root):
        try:
            res = load_bundled(name, root)
        except (M2PTError, ValueError, KeyError):
            continue
        calibrated = "kind" in res.table and bool((res.table.kind == "positive").any())
        out.append((not calibrated, -res.table.arm.nunique(), f"{name}: {res.label()}", name))
    return [(label, name) for *_, label, name in sorted(out)]


def _fmt(v: float, scale: float = 100.0) -> str:
    return "—" if v != v or abs(v) == float("inf") else f"{scale * v:+.2f}"


def _verdict(r: Any) -> str:
    if r.distinguishable:
        return "**distinguishable from 0**" + (" (worse)" if r.delta_acc_mean < 0 else "")
    mde = getattr(r, "delta_acc_mde", float("nan"))
    if r.n_seeds < 2:
        return "one seed: no interval"
    if mde == mde:
        return f"not distinguishable: no effect larger than {100 * mde:.1f} pts"
    return "not distinguishable from 0"


def summary_markdown(deltas: pd.DataFrame, title: str = "", transfer: Optional[pd.DataFrame] = None) -> str:
    """A table of every arm's paired Δ with its interval, the minimum detectable effect of the
    design that was run, where the cross-modal arms fall between the controls (``transfer``, from
    ``ablation.transfer_ratios``), and a sentence on what can be concluded."""
    if deltas.empty:
        return f"{title}\n\nNo finished arm with a baseline of the same seed yet."
    lines = [title, "", "| arm | seeds | Δ test acc (pts) | 95% t-interval | detectable (pts) | Δ test loss | |",
             "|---|---|---|---|---|---|---|"]
    for r in deltas.itertuples():
        mde = getattr(r, "delta_acc_mde", float("nan"))
        lines.append(f"| {r.arm} | {r.n_seeds} | {_fmt(r.delta_acc_mean)} | [{_fmt(r.delta_acc_lo)}, "
                     f"{_fmt(r.delta_acc_hi)}] | {'—' if mde != mde else f'{100 * mde:.1f}'} | "
                     f"{_fmt(r.delta_loss_mean, 1.0)} | {_verdict(r)} |")
    n = int(deltas.distinguishable.sum())
    seeds = int(deltas.n_seeds.max())
    test_n = int(deltas.test_n.iloc[0])
    if seeds < 2:
        verdict = "One seed: no interval over seeds, so nothing can be concluded about seed noise."
    elif n == 0:
        verdict = (f"No arm differs from the baseline beyond seed noise ({seeds} seeds, {test_n} test items per run): "
                   "this ablation cannot say which subset helps; 'detectable' is the smallest mean Δ this design "
                   "finds 4 times in 5 (α 0.05).")
    else:
        verdict = (f"{n} of {len(deltas)} arms differ from the baseline beyond seed noise ({seeds} seeds); the rest "
                   "cannot be told apart from 0, and none of them has an effect larger than its 'detectable' column "
                   "(the minimum detectable effect, α 0.05, power 0.8). Ranks within the grey arms mean nothing.")
    out = lines + ["", verdict]
    if transfer is not None and not transfer.empty:
        out += ["", "**Where the cross-modal pathway falls between the controls** (transfer ratio "
                "(Δcross − Δrandom) / (Δpositive − Δrandom); 0 = as the random control, 1 = as the positive control):",
                "", "| arm | Δ cross | Δ random | Δ positive | transfer ratio [95% bootstrap over seeds] |",
                "|---|---|---|---|---|"]
        for r in transfer.itertuples():
            ratio = ("undefined" if r.ratio != r.ratio else
                     f"{r.ratio:+.2f} [{r.ratio_lo:+.2f}, {r.ratio_hi:+.2f}]")
            out.append(f"| {r.arm} | {_fmt(r.delta_cross)} | {_fmt(r.delta_random)} | {_fmt(r.delta_positive)} | "
                       f"{ratio} |")
    return "\n".join(out)


def views(table: pd.DataFrame, depth: Optional[int], estimate: Optional[pd.DataFrame] = None,
          metric: str = "acc", title: str = "") -> dict[str, Any]:
    """Heatmap, curves, estimate scatter (when there is an estimate) and summary of an ablation table."""
    deltas = arm_deltas(table) if (table.arm == "baseline").any() else pd.DataFrame()
    if deltas.empty:
        blank = figures.empty("Ablation", "No finished arm with a baseline yet.")
        return {"summary": summary_markdown(deltas, title), "heatmap": blank, "curves": blank, "estimate": blank,
                "controls": blank, "deltas": deltas}
    est = blank = None
    if estimate is not None and not estimate.empty:
        est = estimate_scatter(deltas, estimate, rank_agreement(deltas, estimate), metric)
    else:
        blank = figures.empty("First-order estimate", "No first-order estimate for this ablation.")
    transfer = transfer_ratios(table) if has_controls(deltas) else None
    controls = (control_heatmap(deltas, _aux_label(table)) if has_controls(deltas) else
                figures.empty("Controls", "This ablation has no control arms (m2pt ablate --control random positive)."))
    return {"summary": summary_markdown(deltas, title, transfer), "heatmap": ablation_heatmap(deltas, metric, depth),
            "curves": ablation_curves(deltas, metric, depth), "estimate": est or blank, "controls": controls,
            "deltas": deltas}


def _aux_label(table: pd.DataFrame) -> str:
    """The cross-modal auxiliary's name, from its runs' rows."""
    if "aux" not in table or "kind" not in table:
        return "cross-modal auxiliary"
    names = table.loc[table.kind == "m2pt", "aux"].dropna()
    return str(names.iloc[0]) if len(names) else "cross-modal auxiliary"


def bundled_views(name: str, metric: str = "acc", root: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    res: AblationResult = load_bundled(name, root)
    head = f"### {res.label()}"
    if res.command:
        head += f"\n\n`{res.command}`"
    return views(res.table, res.depth, res.estimate, metric, head)


@dataclass
class AblationRequest:
    """Dashboard defaults: one seed of the component arms (6 runs) of a short recipe."""
    dataset: str = "mnist5k"
    aux: str = "audio-sounds"
    by: str = "component"
    seeds: int = 1
    epochs: int = 2
    data_size: int = 600
    size: str = "demo"
    batch_size: int = 64
    lr: float = 2e-3
    lambda_lr_scale: float = TrainConfig.lambda_lr_scale

    def runs(self) -> int:
        from ..ablation import build_arms
        return len(build_arms([self.by], get_size(self.size).depth)) * self.seeds

    def check(self) -> None:
        problems = []
        if self.by not in LAUNCH_BY:
            problems.append(f"--by must be one of {list(LAUNCH_BY)}, got {self.by!r}")
        if not 1 <= self.seeds <= 5:
            problems.append(f"seeds must be between 1 and 5, got {self.seeds}")
        if not 1 <= self.epochs <= 10:
            problems.append(f"epochs must be between 1 and 10, got {self.epochs}")
        if not 100 <= self.data_size <= 5000:
            problems.append(f"subset size must be between 100 and 5000 items, got {self.data_size}")
        if not problems and self.runs() > MAX_RUNS:
            problems.append(f"{self.runs()} runs is more than the dashboard's {MAX_RUNS}; use `m2pt ablate` instead")
        if problems:
            raise M2PTError("Invalid ablation settings: " + "; ".join(problems) + ".")

    def config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, warmup_epochs=0.5,
                           lambda_lr_scale=self.lambda_lr_scale, device="cpu", progress=False)


class AblationJob:
    """A small ablation in a background thread. ``events`` receives fit's events (with "arm",
    "seed", "run", "runs") and {"event": "run_done", ...} per finished run, then None. ``stop()``
    ends the current run at its next step; finished runs stay in ``table`` (and on disk, resumable)."""

    def __init__(self, req: AblationRequest, aux_weights: AuxWeights, out_dir: Union[str, Path]):
        req.check()
        self.req, self.aux_weights, self.out_dir = req, aux_weights, Path(out_dir)
        self.events: queue.Queue = queue.Queue()
        self.table: pd.DataFrame = pd.DataFrame()
        self.stopped = False
        self.error: Optional[BaseException] = None
        self.depth = get_size(req.size).depth
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="m2pt-ablation", daemon=True)
        self.total_runs = req.runs()

    def start(self) -> "AblationJob":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: Optional[float] = None) -> "AblationJob":
        self._thread.join(timeout)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _work(self) -> None:
        try:
            req = self.req
            plan = plan_ablation(req.dataset, req.aux, by=[req.by], seeds=list(range(req.seeds)), config=req.config(),
                                 size=req.size, out_dir=self.out_dir, data_size=req.data_size,
                                 aux_weights=self.aux_weights)
            current: dict[str, Any] = {}

            def on_start(arm, seed, index, total):
                current.update(arm=arm.name, seed=seed, run=index, runs=total)

            def callback(event):
                self.events.put({**event, **current})
                return not self._stop.is_set()

            def on_run(row):
                self.table = pd.concat([self.table, pd.DataFrame([row])], ignore_index=True)
                self.events.put({"event": "run_done", **current, "test_acc": row["test_acc"]})

            table = run_ablation(plan, progress=False, progress_callback=callback, on_run=on_run, on_start=on_start)
            self.table = table
            self.stopped = self._stop.is_set() and len(table) < len(plan.arms) * len(plan.seeds)
        except BaseException as e:  # noqa: BLE001 - reported to the caller through .error
            self.error = e
        finally:
            self.events.put(None)

    def status(self) -> str:
        done = len(self.table)
        if self.error is not None:
            return f"Failed: {self.error}"
        if self.stopped:
            return (f"Stopped after {done} of {self.total_runs} runs; the finished arms are kept below (and on disk "
                    f"in {self.out_dir}, so the same settings resume them).")
        if self.running:
            return f"Running: {done} of {self.total_runs} runs finished."
        return f"Done: {done} of {self.total_runs} runs."


_JOBS: dict[str, AblationJob] = {}


def start_job(req: AblationRequest, aux_weights: AuxWeights, out_dir: Optional[Union[str, Path]] = None) -> str:
    """Start an AblationJob and return its id (the dashboard keeps the id, not the job). Runs go to
    ``out_dir``, else $M2PT_DASHBOARD_ABLATIONS, else a folder in the temp dir (same settings resume)."""
    out = Path(out_dir or os.environ.get("M2PT_DASHBOARD_ABLATIONS")
               or Path(tempfile.gettempdir()) / "m2pt-dashboard-ablations")
    job = AblationJob(req, aux_weights, out).start()
    job_id = uuid.uuid4().hex
    _JOBS[job_id] = job
    return job_id


def get_job(job_id: Optional[str]) -> Optional[AblationJob]:
    return _JOBS.get(job_id) if job_id else None


def stop_job(job_id: Optional[str]) -> str:
    job = get_job(job_id)
    if job is None:
        return "No ablation is running."
    if not job.running:          # keep what the finished job says ("Done: 6 of 6 runs."), never erase it
        return f"{job.status()} Nothing is running, so there was nothing to stop."
    job.stop()
    return "Stopping at the next step; finished arms are kept."
