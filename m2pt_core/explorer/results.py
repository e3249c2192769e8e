"""What an explorer session hands back to the UI: scores, predictions, trained pairs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import torch
from torch import nn

from ..analysis.intervals import Interval, PairedComparison


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
    """Accuracy with the λ in force, against the learned λ and against the baseline model, each
    compared on the same items (paired intervals; see analysis.intervals). What the dashboard
    shows; analysis.Score is the running sum it is computed from."""
    acc: float
    learned_acc: Optional[float]
    baseline_acc: Optional[float]
    n: int
    recomputed_from: int
    depth: int
    seconds: float
    data: str = ""                                     # EvalData.describe(): split and n
    acc_ci: Optional[Interval] = None
    vs_learned: Optional[PairedComparison] = None
    vs_baseline: Optional[PairedComparison] = None
    baseline_name: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not isinstance(v, (Interval, PairedComparison))}
        for name, cmp in (("vs_learned", self.vs_learned), ("vs_baseline", self.vs_baseline)):
            if cmp is not None:
                d = cmp.delta_acc
                out[f"{name}_delta"], out[f"{name}_lo"], out[f"{name}_hi"] = d.estimate, d.lo, d.hi
                out[f"{name}_p"], out[f"{name}_distinguishable"] = cmp.p_mcnemar, cmp.distinguishable
        return out

    def markdown(self) -> str:
        def line(label: str, ref: Optional[float], cmp: Optional[PairedComparison]) -> str:
            if ref is None:
                return f"{label}: n/a"
            if cmp is None:
                d = 100 * (self.acc - ref)
                return f"{label}: {100 * ref:.2f}% ({'+' if d >= 0 else ''}{d:.2f} pts)"
            return f"{label}: {100 * ref:.2f}%; {cmp.describe('Δ')}"
        ci = (f" ({100 * self.acc_ci.level:.0f}% CI {100 * self.acc_ci.lo:.1f}–{100 * self.acc_ci.hi:.1f}%)"
              if self.acc_ci is not None else "")
        on = self.data or f"{self.n} samples"
        blocks = self.depth - self.recomputed_from
        base = (f"vs baseline model {self.baseline_name} (one training run each, same items)"
                if self.baseline_name else "vs baseline model")
        return (f"**Validation accuracy now: {100 * self.acc:.2f}%**{ci} on {on}  \n"
                f"{line('vs learned λ', self.learned_acc, self.vs_learned)}  \n"
                f"{line(base, self.baseline_acc, self.vs_baseline)}  \n"
                f"<small>re-ran {blocks} of {self.depth} blocks in {1000 * self.seconds:.0f} ms</small>")


@dataclass
class Prediction:
    """Top-k of baseline and M2PT for one input, and the input as the model sees it."""
    modality: str
    x: torch.Tensor
    table: pd.DataFrame
    path: Path
