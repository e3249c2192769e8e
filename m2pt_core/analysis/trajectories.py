"""Training logs (one JSON object per epoch, JSONL) as tables: per-epoch metrics and λ over time.

A record looks like {"epoch": 3, "lambdas": {"blocks.0.attn.qkv": 0.012, …}, "train_loss": …,
"val_acc": …, …}. Lines without "epoch" (headers, events) and a truncated last line are skipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import pandas as pd

from ..pathways import split_name
from ..safe_io import read_jsonl

LogSource = Union[str, Path, Iterable[Mapping[str, Any]]]
TRAJECTORY_COLUMNS = ["epoch", "name", "layer", "component", "lam"]


def load_records(source: LogSource) -> list[dict[str, Any]]:
    """Epoch records from a JSONL path or from an iterable of dicts, sorted by epoch."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"No training log at {path}; expected a JSONL file (one JSON object per epoch).")
        records = read_jsonl(path)   # a line cut off by a kill mid-write is skipped
    else:
        records = [dict(r) for r in source]
    records = [r for r in records if isinstance(r, dict) and "epoch" in r]
    return sorted(records, key=lambda r: r["epoch"])


def read_log(source: LogSource) -> pd.DataFrame:
    """Per-epoch metrics: every scalar (number, string, bool) field of each record, one row per epoch.

    Nested fields such as "lambdas" are left out (see lambda_trajectories). If an epoch occurs
    twice (a resumed run), the last record wins."""
    rows = [{k: v for k, v in r.items() if isinstance(v, (int, float, str, bool)) or v is None}
            for r in load_records(source)]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["epoch"])
    return df.drop_duplicates("epoch", keep="last").reset_index(drop=True)


def lambda_trajectories(source: LogSource) -> pd.DataFrame:
    """λ of every pathway at every logged epoch: columns epoch, name, layer, component, lam.

    Empty (with these columns) for a run without pathways (a baseline)."""
    latest: dict[Any, Mapping[str, float]] = {}
    for r in load_records(source):
        if isinstance(r.get("lambdas"), Mapping):
            latest[r["epoch"]] = r["lambdas"]   # a resumed run's later record wins
    rows = []
    for epoch, lambdas in latest.items():
        for name, lam in lambdas.items():
            layer, comp = split_name(name)
            rows.append({"epoch": epoch, "name": name, "layer": layer, "component": comp, "lam": float(lam)})
    return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)
