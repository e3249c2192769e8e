"""Seed-level evidence for a (target dataset, auxiliary) pair, from assets/evidence.json.

The file holds the paired Δ (arm − baseline of the same seed) of the multi-seed experiments in
docs/results.md, so front ends can show "over 3 seeds: Δ = … ± … points" next to a pair instead of
a single run's difference. The interval is a t-interval over seeds (analysis.intervals).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .analysis.intervals import LEVEL, SeedSummary, seed_interval
from .assets import ENV_ASSETS
from .errors import M2PTError

EVIDENCE_FILE = "evidence.json"

ARMS_SHOWN = {"m2pt": "M2PT vs baseline", "random": "random-weights control vs baseline",
              "frozen": "frozen W' vs baseline"}


def evidence_path() -> Path:
    """assets/evidence.json: under $M2PT_ASSETS_DIR, beside the package, or in the working
    directory (as assets.py resolves the zoo); the checkout's path when none exists."""
    roots = [Path(os.environ[ENV_ASSETS])] if os.environ.get(ENV_ASSETS) else []
    roots += [Path(__file__).resolve().parent.parent / "assets", Path.cwd() / "assets"]
    for root in roots:
        if (root / EVIDENCE_FILE).is_file():
            return root / EVIDENCE_FILE
    return roots[-2] / EVIDENCE_FILE


@dataclass(frozen=True)
class Evidence:
    """One arm of one pair, summarised over seeds."""
    target_dataset: str
    auxiliary: str
    arm: str
    split: str
    items_per_seed: int
    summary: SeedSummary
    source: str
    section: str
    device: str

    def describe(self) -> str:
        """E.g. "M2PT vs baseline, test accuracy (750 test items per seed): over 3 seeds: Δ = −0.58 ±
        1.64 points (95% t-interval; std 0.66): not distinguishable from 0 [docs/results.md, …]"."""
        what = ARMS_SHOWN.get(self.arm, f"{self.arm} vs baseline")
        return (f"{what}, test accuracy ({self.items_per_seed} {self.split} items per seed): "
                f"{self.summary.describe()} [{self.source}, “{self.section}”, {self.device}]")


def load_evidence(path: Optional[Union[str, Path]] = None, level: float = LEVEL) -> list[Evidence]:
    """Every comparison in the evidence file (default assets/evidence.json); [] if there is none."""
    path = Path(path) if path is not None else evidence_path()
    if not path.is_file():
        return []
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
        out = []
        for c in doc["comparisons"]:
            per_seed = c.get("per_seed")
            summary = (seed_interval(per_seed, level=level) if per_seed else
                       seed_interval(mean=float(c["delta_mean"]), std=c.get("delta_std"), n=len(c["seeds"]), level=level))
            out.append(Evidence(c["target_dataset"], c["auxiliary"], c["arm"], c.get("split", "test"),
                                int(c["items_per_seed"]), summary, doc.get("source", str(path.name)),
                                c.get("section", ""), c.get("device", "")))
        return out
    except (KeyError, TypeError, ValueError) as e:
        raise M2PTError(f"{path} is not a valid evidence file ({type(e).__name__}: {e}); expected "
                        "{'comparisons': [{target_dataset, auxiliary, arm, items_per_seed, seeds, "
                        "delta_mean, delta_std, per_seed}, …]}.") from None


def evidence_for(target_dataset: Optional[str], auxiliary: Optional[str],
                 path: Optional[Union[str, Path]] = None) -> list[Evidence]:
    """The seed-level comparisons of one (target dataset, auxiliary) pair (M2PT arm first)."""
    if not target_dataset or not auxiliary:
        return []
    rows = [e for e in load_evidence(path) if e.target_dataset == target_dataset and e.auxiliary == auxiliary]
    order = list(ARMS_SHOWN)
    return sorted(rows, key=lambda e: order.index(e.arm) if e.arm in order else len(order))
