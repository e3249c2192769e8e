"""Analysis of pathway models: weight statistics, λ trajectories from training logs, evaluation,
knockout maps, fast λ sweeps (cached hidden states), per-class accuracy and top-k predictions.

Every number a user compares comes with its uncertainty (intervals.py: Wilson intervals of
accuracies, paired bootstrap intervals and McNemar p-values of differences on the same items,
t-intervals over seeds). Every result is a pandas DataFrame (accuracies as fractions in [0, 1]); m2pt_core.figures turns
them into plotly figures.
"""
from .compare import compare_models, per_item_results
from .evaluate import DEFAULT_BATCH_SIZE, Score, evaluate_tensors, predict_logits
from .incremental import IncrementalEvaluator
from .intervals import (PAIRED_COLUMNS, Interval, PairedComparison, SeedSummary, accuracy_interval, mcnemar_p,
                        paired_columns, paired_comparison, seed_interval, wilson_interval)
from .knockout import KNOCKOUT_COLUMNS, knockout_map
from .per_class import PER_CLASS_COLUMNS, compare_per_class, per_class_accuracy, per_class_delta
from .predict import TOPK_COLUMNS, compare_topk, predict_topk
from .probes import Probe, run_probes
from .selection import ALL, ALL_LAYERS
from .stages import Stages, model_stages
from .stats import STATS_COLUMNS, weight_stats, weight_stats_pair
from .sweep import DEFAULT_GRIDS, SCALE_COLUMNS, SWEEP_COLUMNS, global_scale_sweep, lambda_sweep
from .trajectories import TRAJECTORY_COLUMNS, lambda_trajectories, load_records, read_log

__all__ = [
    "PAIRED_COLUMNS", "Interval", "PairedComparison", "SeedSummary", "accuracy_interval", "mcnemar_p",
    "paired_columns", "paired_comparison", "seed_interval", "wilson_interval",
    "compare_models", "per_item_results", "DEFAULT_BATCH_SIZE", "Score", "evaluate_tensors", "predict_logits", "IncrementalEvaluator",
    "KNOCKOUT_COLUMNS", "knockout_map", "PER_CLASS_COLUMNS", "compare_per_class", "per_class_accuracy",
    "per_class_delta", "TOPK_COLUMNS", "compare_topk", "predict_topk", "Probe", "run_probes", "ALL",
    "ALL_LAYERS", "Stages", "model_stages", "STATS_COLUMNS", "weight_stats", "weight_stats_pair",
    "DEFAULT_GRIDS", "SCALE_COLUMNS", "SWEEP_COLUMNS", "global_scale_sweep", "lambda_sweep",
    "TRAJECTORY_COLUMNS", "lambda_trajectories", "load_records", "read_log",
]
