"""run_ablation: one training run per (arm, seed), through the experiment's own per-run code.

Each run is ``experiment.train_run``: its folder is named by a hash of everything that affects its
result (the arm's pathway subset included), so a finished run is reused and an interrupted one
resumed; the "all" and "random" arms are exactly the experiment's m2pt and random runs."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import pandas as pd
import torch

from ..experiment import RESULT_COLUMNS, RunRequest, build_model, request_spec, run_dir_of, train_run
from ..experiment.setup import arm_source, load_auxiliaries, open_splits, run_name, with_train_fraction
from ..pathways import COMPONENTS
from ..sizes import get_size
from ..train import TrainConfig
from ..train.config import recipe_of
from .arms import Arm, build_arms

TABLE_FILE = "ablation.csv"
META_FILE = "ablation.json"
ARM_COLUMNS = ["arm", "by", "subset", "layer", "component", "k", "kind"]
ABLATION_COLUMNS = ARM_COLUMNS + [c for c in RESULT_COLUMNS if c != "arm"] + ["lambdas", "test_items"]


@dataclass
class AblationPlan:
    target: str
    aux: str
    arms: list[Arm]
    seeds: list[int]
    size: str
    config: TrainConfig
    out_dir: Path
    data_size: Optional[int]
    lambda_init: float
    data_seed: int
    splits: dict[str, Any]
    aux_weights: Any
    init: Optional[str] = None          # pretrained target weights of every arm (m2pt ablate --init)
    num_heads: Optional[int] = None
    init_depth: Optional[int] = None    # the loaded checkpoint's depth: the arms are sized from it
    positive: Optional[dict[int, Any]] = None   # seed -> controls.PositiveControl of the positive arms
    train_fraction: float = 1.0         # part of the train split every arm trains on (data/fraction.py)

    @property
    def depth(self) -> int:
        return self.init_depth if self.init_depth is not None else get_size(self.size).depth

    def request(self, arm: Arm, seed: int) -> RunRequest:
        positive = self.positive[seed] if arm.kind == "positive" else None
        aux = positive.name if positive else self.aux
        source = arm_source(arm.kind, positive.weights if positive else self.aux_weights, seed)
        return RunRequest(self.target, arm.kind, None if arm.kind == "baseline" else aux, source, seed,
                          self.size, self.config, self.lambda_init, self.out_dir, run_name(arm.name, aux),
                          arm.pathways(), init=self.init, data_seed=self.data_seed, data_size=self.data_size,
                          num_heads=self.num_heads)

    def run_dir(self, arm: Arm, seed: int) -> Path:
        req = self.request(arm, seed)
        return run_dir_of(req, request_spec(req, self.splits["train"].provenance.to_dict()))

    def finished(self, arm: Arm, seed: int) -> bool:
        return (self.run_dir(arm, seed) / "model.safetensors").is_file()


def plan_ablation(target: str, aux: str, by: Iterable[str] = ("layer",), seeds: Sequence[int] = (0, 1, 2),
                  config: Optional[TrainConfig] = None, size: str = "demo",
                  out_dir: Union[str, Path] = "runs/ablation", data_size: Optional[int] = None,
                  lambda_init: float = 0.0, data_seed: int = 0, controls: Iterable[str] = (),
                  components: Sequence[str] = COMPONENTS, shuffle_seed: int = 0,
                  arms: Optional[Sequence[str]] = None, aux_weights: Optional[Any] = None,
                  modality: Optional[str] = None, init: Optional[str] = None,
                  num_heads: Optional[int] = None, progress: bool = True, positive_aux: Optional[str] = None,
                  train_fraction: float = 1.0) -> AblationPlan:
    """Load the data (``target``: whatever ``data.open_dataset`` opens, as for experiments) and the
    auxiliary (``aux_weights``: already loaded weights of ``aux``) and list the arms (``arms``: keep
    only these names). init: pretrained starting weights of every arm's target (as for experiments;
    size and depth, hence the arms, follow the checkpoint). positive_aux: the positive control of
    ``controls=("positive",)`` (checked by content against the val / test items, controls.py).
    train_fraction: every arm trains on this stratified part of the train split (the low-data axis);
    val and test stay the same items."""
    opened = open_splits(target, data_seed, data_size, modality, size, init, num_heads, progress)
    size, depth = opened.size, opened.depth
    splits = with_train_fraction(opened.splits, train_fraction, data_seed)
    positive = None
    if "positive" in controls:
        if not positive_aux:
            raise ValueError("The positive control needs positive_aux (CLI --positive-aux): an auxiliary of the "
                             "target's own modality trained on other items, e.g. image-mnist5k for mnist5k.")
        from ..controls import positive_controls
        positive = positive_controls(positive_aux, list(seeds), splits)
    aux_w = aux_weights if aux_weights is not None else load_auxiliaries([aux])[aux]
    chosen = build_arms(by, depth if depth is not None else get_size(size).depth, components, shuffle_seed, controls)
    if arms is not None:
        unknown = sorted(set(arms) - {a.name for a in chosen})
        if unknown:
            raise ValueError(f"Unknown arm(s) {unknown}; this ablation has {[a.name for a in chosen]}.")
        chosen = [a for a in chosen if a.name in set(arms)]
    return AblationPlan(target, aux, chosen, list(seeds), size, config or TrainConfig(), Path(out_dir), data_size,
                        lambda_init, data_seed, splits, aux_w, init, num_heads, depth, positive, train_fraction)


def _arm_fields(arm: Arm) -> dict[str, Any]:
    return {"arm": arm.name, "by": arm.by, "subset": arm.subset, "layer": arm.layer, "component": arm.component,
            "k": arm.k, "kind": arm.kind}


def measure_step_time(plan: AblationPlan, steps: int = 3) -> dict[str, float]:
    """Seconds per training step (forward, backward, AdamW) of the all-pathways model on real
    batches of the training set, after one warm-up step; and seconds per evaluated item."""
    from ..train.optim import build_optimizer
    from ..device import pick_device
    train = plan.splits["train"]
    device = pick_device(plan.config.device)
    model = build_model(plan.request(Arm("all", "all", "all"), plan.seeds[0] if plan.seeds else 0), train,
                        plan.splits).to(device)
    opt = build_optimizer(model, plan.config)
    X, y = train.tensors()
    bs = min(plan.config.batch_size, len(y))
    times = []
    model.train()
    for s in range(steps + 1):
        idx = torch.arange(s * bs, (s + 1) * bs) % len(y)
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(X[idx].to(device)), y[idx].long().to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s:
            times.append(time.perf_counter() - t0)
    model.eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(X[:bs].to(device))
        eval_item = (time.perf_counter() - t0) / bs
    return {"step_s": sum(times) / len(times), "eval_item_s": eval_item, "batch_size": bs}


def dry_run(plan: AblationPlan, timing: Optional[dict[str, float]] = None) -> pd.DataFrame:
    """Every (arm, seed) with its pathway pairs, whether it is already finished, and an estimated
    time from a measured step time (``measure_step_time``; pass ``timing`` to reuse one).
    ``est_s`` is 0 for a finished run (it will be reused)."""
    timing = timing or measure_step_time(plan)
    n_train, n_eval = len(plan.splits["train"]), len(plan.splits["val"]) + len(plan.splits["test"])
    steps = math.ceil(n_train / plan.config.batch_size) * plan.config.epochs
    per_run = steps * timing["step_s"] + (plan.config.epochs * len(plan.splits["val"]) + n_eval) * timing["eval_item_s"]
    rows = []
    for seed in plan.seeds:
        for arm in plan.arms:
            done = plan.finished(arm, seed)
            rows.append({**_arm_fields(arm), "seed": seed, "pathways": len(arm.pairs(plan.depth)),
                         "pairs": " ".join(f"{n}<-{j}" for n, j in arm.pairs(plan.depth)), "finished": done,
                         "steps": steps, "est_s": 0.0 if done else per_run, "step_s": timing["step_s"]})
    return pd.DataFrame(rows)


def run_ablation(plan: AblationPlan, progress: bool = True,
                 progress_callback: Optional[Callable[[dict], Optional[bool]]] = None,
                 on_run: Optional[Callable[[dict], None]] = None,
                 on_start: Optional[Callable[[Arm, int, int, int], None]] = None) -> pd.DataFrame:
    """Train (or reuse) every (arm, seed), seed by seed, and return the tidy table (ABLATION_COLUMNS);
    ``out_dir/ablation.csv`` is rewritten after every run. A progress_callback returning False stops
    the current run (its last finished epoch stays on disk for a resume) and the ablation: the table
    then holds the finished runs only. on_start(arm, seed, index, total) before each run, on_run(row)
    after it."""
    rows: list[dict[str, Any]] = []
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    _write_meta(plan)
    total = len(plan.seeds) * len(plan.arms)
    for seed in plan.seeds:
        for arm in plan.arms:
            if on_start is not None:
                on_start(arm, seed, len(rows), total)
            row = train_run(plan.request(arm, seed), plan.splits, progress=progress,
                            progress_callback=progress_callback)
            if row["cancelled"]:
                return pd.DataFrame(rows, columns=ABLATION_COLUMNS)
            row = {**row, **_arm_fields(arm)}
            rows.append(row)
            pd.DataFrame(rows, columns=ABLATION_COLUMNS).to_csv(plan.out_dir / TABLE_FILE, index=False)
            if on_run is not None:
                on_run(row)
    return pd.DataFrame(rows, columns=ABLATION_COLUMNS)


def _write_meta(plan: AblationPlan) -> None:
    from ..safe_io import atomic_write_text
    meta = {"target": plan.target, "aux": plan.aux, "size": plan.size, "depth": plan.depth, "init": plan.init,
            "train_fraction": plan.train_fraction, "train_n": len(plan.splits["train"]),
            "positive_control": None if plan.positive is None else {
                "aux": sorted({p.name for p in plan.positive.values()}),
                "per_seed": {str(seed): p.name for seed, p in plan.positive.items()},
                "checked": all(p.checked for p in plan.positive.values()),
                "note": "; ".join(dict.fromkeys(p.note for p in plan.positive.values()))},
            "seeds": plan.seeds,
            "data_size": plan.data_size, "data_seed": plan.data_seed, "lambda_init": plan.lambda_init,
            "recipe": recipe_of(plan.config),
            "arms": [_arm_fields(a) | {"pairs": [list(p) for p in a.pairs(plan.depth)]}
                     for a in plan.arms],
            "n": {s: len(d) for s, d in plan.splits.items()}}
    atomic_write_text(plan.out_dir / META_FILE, json.dumps(meta, indent=1, default=str))


@dataclass
class SeedPlan:
    """How many seeds a target effect needs with this design, and what they cost here."""
    effect: float            # mean paired Δ to detect (fraction: 0.02 = 2 points)
    sd: float                # per-seed spread of Δ used
    sd_source: str           # "observed over N seeds in OUT" or "assumed"
    seeds: Optional[int]     # None: more than 200
    minutes: Optional[float]

    def describe(self) -> str:
        if self.seeds is None:
            return (f"A mean Δ of {100 * self.effect:.1f} points with a per-seed spread of {100 * self.sd:.1f} points "
                    f"({self.sd_source}) needs more than 200 seeds: not detectable with this design.")
        return (f"To detect a mean Δ of {100 * self.effect:.1f} points (α 0.05, power 0.8) with a per-seed spread "
                f"of {100 * self.sd:.1f} points ({self.sd_source}): {self.seeds} seeds, about "
                f"{self.minutes:.0f} min here for all arms.")


def seeds_for_effect(plan: AblationPlan, dry: pd.DataFrame, effect: float, assumed_sd: float) -> SeedPlan:
    """SeedPlan from the observed paired spread of the finished runs in ``plan.out_dir`` (the median
    over arms with ≥ 2 seeds), else ``assumed_sd``; time from the dry run's per-run estimate."""
    from ..analysis.power import seeds_needed
    from .summary import arm_deltas
    sd, source = assumed_sd, "assumed"
    table_file = plan.out_dir / TABLE_FILE
    if table_file.is_file():
        done = pd.read_csv(table_file)
        if (done.arm == "baseline").any():
            stds = arm_deltas(done).delta_acc_std.dropna()
            if len(stds):
                sd, source = float(stds.median()), f"observed: median over {len(stds)} arms in {plan.out_dir}"
    n = seeds_needed(effect, sd)
    per_run = max(float(dry.est_s.max()), float(dry.steps.iloc[0] * dry.step_s.iloc[0])) if len(dry) else 0.0
    minutes = None if n is None else n * len(plan.arms) * per_run / 60
    return SeedPlan(effect, sd, source, n, minutes)
