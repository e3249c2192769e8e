"""What an explorer session hands back to the UI: scores, predictions, trained pairs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import torch
from torch import nn


@dataclass
class TrainedPair:
    """A baseline and an M2PT model trained in this session with the same recipe and seed."""
    label: str
    dataset: str
    aux: str
    data_size: Optional[int]
    baseline: nn.Module
    m2pt: nn.Module
    histories: dict[str, list[dict[str, Any]]]
    test: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionScore:
    """Accuracy with the λ in force, against the learned λ and against the baseline model (what the
    dashboard shows; analysis.Score is the running sum it is computed from)."""
    acc: float
    learned_acc: Optional[float]
    baseline_acc: Optional[float]
    n: int
    recomputed_from: int
    depth: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def markdown(self) -> str:
        def delta(ref: Optional[float]) -> str:
            if ref is None:
                return "n/a"
            d = 100 * (self.acc - ref)
            return f"{100 * ref:.2f}% ({'+' if d >= 0 else ''}{d:.2f} pts)"
        blocks = self.depth - self.recomputed_from
        return (f"**Validation accuracy now: {100 * self.acc:.2f}%** on {self.n} samples  \n"
                f"vs learned λ: {delta(self.learned_acc)} · vs baseline model: {delta(self.baseline_acc)}  \n"
                f"<small>re-ran {blocks} of {self.depth} blocks in {1000 * self.seconds:.0f} ms</small>")


@dataclass
class Prediction:
    """Top-k of baseline and M2PT for one input, and the input as the model sees it."""
    modality: str
    x: torch.Tensor
    table: pd.DataFrame
    path: Path
