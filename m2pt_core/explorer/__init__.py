"""The explorer behind the dashboard (app/): per-session state and logic, free of UI code.

    Catalog            which models exist (zoo, MiniLM, files) and a shared read-only weight cache
    ExplorerSession    one user's target / auxiliary / baseline, λ edits, analysis, predictions
    compatibility_table  layer × component shapes of a target/auxiliary pair, and why they differ
    train_pair         a small baseline + M2PT training run for the Train panel
"""
from .catalog import Catalog
from .sharing import share_copy
from .summaries import ModelCard
from .compatibility import COMPAT_COLUMNS, compatibility_summary, compatibility_table
from .data import DEFAULT_MAX_EVAL, EvalData, eval_data
from .export import export_merged
from .session import NO_AUX, ExplorerSession, Prediction, SessionScore, TrainedPair
from .training import TrainRequest, train_pair

__all__ = ["Catalog", "ModelCard", "share_copy", "COMPAT_COLUMNS", "compatibility_summary", "compatibility_table",
           "DEFAULT_MAX_EVAL", "EvalData", "eval_data", "export_merged", "NO_AUX", "ExplorerSession", "Prediction",
           "SessionScore", "TrainedPair", "TrainRequest", "train_pair"]
