"""Where a run starts: from scratch, or from the last finished epoch of a run in the same folder
(train_state.json), applying the recipe changes a resume may apply and refusing the rest."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..errors import ResumeError
from .config import RESUME_APPLIED_FIELDS, RESUME_REFUSED_FIELDS, TrainConfig
from .state import STATE_FILE, load_train_state, restore_train_state


@dataclass
class StartPoint:
    epoch: int = 0                                   # epochs already trained
    step: int = 0                                    # optimizer steps already taken
    history: list[dict[str, Any]] = field(default_factory=list)    # one record per finished epoch
    train_time_s: float = 0.0                        # over the earlier sessions
    changes: list[dict[str, Any]] = field(default_factory=list)    # recipe changes of every resume, as logged
    change: dict[str, Any] = field(default_factory=dict)           # the one this resume applies (or {})


def resume_changes(record: dict[str, Any], config: TrainConfig, out: Path) -> dict[str, dict[str, Any]]:
    """{field: {"from", "to"}} of the recipe changes a resume applies; ResumeError for the rest."""
    old = record.get("config", {})
    differs = lambda k: k in old and old[k] != getattr(config, k)  # noqa: E731
    refused = [f"{k} {old[k]!r} -> {getattr(config, k)!r}" for k in RESUME_REFUSED_FIELDS if differs(k)]
    if refused:
        raise ResumeError(
            f"Cannot resume the run in {out} with a different {', '.join(refused)}: these fix the data "
            "order and the number of steps, so the result would be neither the old run nor the new one. "
            f"Keep the old values ({', '.join(f'{k}={old[k]!r}' for k in RESUME_REFUSED_FIELDS if k in old)}), "
            "or start afresh (without resume, or in another out_dir).")
    return {k: {"from": old[k], "to": getattr(config, k)} for k in RESUME_APPLIED_FIELDS if differs(k)}


def start_point(config: TrainConfig, out: Optional[Path], model: nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, main: bool) -> StartPoint:
    """Resume from ``out`` when asked and a state is there (model, optimizer and scaler restored in
    place); otherwise a fresh start, removing an old state so it can never be resumed as this run."""
    if not (config.resume and out is not None):
        if out is not None and main and (out / STATE_FILE).exists():
            (out / STATE_FILE).unlink()
        return StartPoint()
    record = load_train_state(out)
    if record is None:
        return StartPoint()
    applied = resume_changes(record, config, out)
    # The optimizer was built from `config`; only its per-parameter state is restored.
    restore_train_state(out, record, model, optimizer, scaler)
    start = StartPoint(record["epoch"], record["step"], record["history"], record["train_time_s"],
                       list(record.get("recipe_changes", [])))
    if applied and start.epoch < config.epochs:   # a finished run trains no further step
        start.change = {"event": "recipe_change", "from_epoch": start.epoch + 1, "step": start.step, "changes": applied}
        start.changes.append(start.change)
        warnings.warn(f"Resuming {out} with a changed recipe, applied from step {start.step} (epoch "
                      f"{start.epoch + 1}) on: " + "; ".join(f"{k}: {c['from']} -> {c['to']}"
                                                             for k, c in applied.items()), stacklevel=3)
    return start
