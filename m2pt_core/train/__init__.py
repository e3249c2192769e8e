"""Training: ``fit`` / ``evaluate`` for every modality (baseline and M2PT alike), with atomic
per-epoch checkpoints and exact resume, a JSONL log with every λ, progress callbacks and DDP."""
from .callbacks import Cancelled, ProgressCallback
from .config import TrainConfig
from .loop import FINAL_MODEL, LOG_FILE, FitResult, evaluate, fit
from .optim import build_optimizer, lr_factor, no_weight_decay, param_groups

__all__ = ["Cancelled", "ProgressCallback", "TrainConfig", "FINAL_MODEL", "LOG_FILE", "FitResult", "evaluate",
           "fit", "build_optimizer", "lr_factor", "no_weight_decay", "param_groups"]
