"""Training-time ablations: which layers / components / block orders benefit from the auxiliary.

arms.py builds the arms (one pathway subset each), runner.py trains them through the experiment's
per-run code (reusable, resumable runs), summary.py gives paired Δ vs the same seed's baseline with
intervals, estimate.py the first-order estimate of each pathway's effect from one backward pass,
bundled.py reads the bundled results in assets/ablations."""
from .arms import BY_CHOICES, CONTROLS, Arm, build_arms, shuffled_order
from .runner import (ABLATION_COLUMNS, META_FILE, TABLE_FILE, AblationPlan, dry_run, measure_step_time,
                     plan_ablation, run_ablation)
from .summary import DELTA_COLUMNS, RUN_DELTA_COLUMNS, arm_deltas, run_deltas

__all__ = ["BY_CHOICES", "CONTROLS", "Arm", "build_arms", "shuffled_order", "ABLATION_COLUMNS", "META_FILE",
           "TABLE_FILE", "AblationPlan", "dry_run", "measure_step_time", "plan_ablation", "run_ablation",
           "DELTA_COLUMNS", "RUN_DELTA_COLUMNS", "arm_deltas", "run_deltas"]
