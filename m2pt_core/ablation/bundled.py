"""Bundled ablation results (assets/ablations/<name>/): small tables, no checkpoints.

Each folder holds what ``m2pt ablate`` wrote: ablation.csv (one row per run), ablation.json (the
plan: target, auxiliary, recipe, arms, split sizes), optionally estimate.csv (first-order
estimate per arm and seed) and run_deltas.csv (per-run paired bootstrap on the test items), plus
command.txt (the exact command). Paired Δ over seeds are recomputed from ablation.csv."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from ..errors import M2PTError
from .estimate import rank_agreement
from .runner import META_FILE, TABLE_FILE
from .summary import arm_deltas

ESTIMATE_FILE = "estimate.csv"
RUN_DELTAS_FILE = "run_deltas.csv"
COMMAND_FILE = "command.txt"


def ablations_dir(path: Optional[Union[str, Path]] = None) -> Path:
    """``path``, else $M2PT_ABLATIONS_DIR, else assets/ablations of this checkout."""
    if path is not None:
        return Path(path)
    if os.environ.get("M2PT_ABLATIONS_DIR"):
        return Path(os.environ["M2PT_ABLATIONS_DIR"])
    return Path(__file__).resolve().parents[2] / "assets" / "ablations"


@dataclass
class AblationResult:
    name: str
    meta: dict[str, Any]
    table: pd.DataFrame                      # ABLATION_COLUMNS, one row per finished run
    estimate: Optional[pd.DataFrame] = None
    run_deltas: Optional[pd.DataFrame] = None
    command: str = ""
    deltas: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.deltas = arm_deltas(self.table)

    @property
    def depth(self) -> Optional[int]:
        from ..sizes import get_size
        if self.meta.get("depth") is not None:      # recorded since ablations can start from --init weights
            return int(self.meta["depth"])
        return get_size(self.meta["size"]).depth if self.meta.get("size") else None

    def agreement(self) -> Optional[dict[str, Any]]:
        return None if self.estimate is None or self.estimate.empty else rank_agreement(self.deltas, self.estimate)

    def label(self) -> str:
        m = self.meta
        parts = [str(m.get("size")), f"{len(self.table.seed.unique())} seeds",
                 f"λ lr ×{m.get('recipe', {}).get('lambda_lr_scale')}"]
        if m.get("lambda_init"):
            parts.append(f"λ init {m['lambda_init']:g}")
        if m.get("train_fraction") not in (None, 1, 1.0):
            parts.append(f"{100 * m['train_fraction']:g} % of train ({m.get('train_n')} items)")
        kinds = [k for k in ("positive", "random") if "kind" in self.table and (self.table.kind == k).any()]
        if kinds:
            parts.append("controls: " + " + ".join(kinds))
        return f"{m.get('target')} ← {m.get('aux')} ({'; '.join(parts)})"


def read_ablation(folder: Union[str, Path], name: Optional[str] = None) -> AblationResult:
    """An ablation's tables from the folder ``m2pt ablate --out`` wrote (or a bundled copy)."""
    folder = Path(folder)
    if not (folder / TABLE_FILE).is_file() or not (folder / META_FILE).is_file():
        raise M2PTError(f"{folder} holds no ablation result: expected {TABLE_FILE} and {META_FILE} "
                        f"(written by `m2pt ablate --out {folder}`).")
    opt = {f: pd.read_csv(folder / f) if (folder / f).is_file() else None for f in (ESTIMATE_FILE, RUN_DELTAS_FILE)}
    cmd = (folder / COMMAND_FILE).read_text().strip() if (folder / COMMAND_FILE).is_file() else ""
    return AblationResult(name or folder.name, json.loads((folder / META_FILE).read_text()),
                          pd.read_csv(folder / TABLE_FILE), opt[ESTIMATE_FILE], opt[RUN_DELTAS_FILE], cmd)


def bundled_names(root: Optional[Union[str, Path]] = None) -> list[str]:
    root = ablations_dir(root)
    return sorted(p.parent.name for p in root.glob(f"*/{TABLE_FILE}") if (p.parent / META_FILE).is_file())


def load_bundled(name: str, root: Optional[Union[str, Path]] = None) -> AblationResult:
    names = bundled_names(root)
    if name not in names:
        raise M2PTError(f"No bundled ablation {name!r}; available: {names or 'none'} (in {ablations_dir(root)}).")
    return read_ablation(ablations_dir(root) / name, name)
