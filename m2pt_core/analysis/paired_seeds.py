"""The baseline each run of a results table is paired with: the baseline run of the same seed.

A table may list one baseline run twice (results of two experiments that reused it, concatenated):
those rows are one run (same ``run_id``, else the same numbers) and count once. Two *different*
baseline runs of one seed (another recipe or another dataset) cannot both be "the" baseline of that
seed: that is refused with a message naming them, instead of pairing with either silently.
"""
from __future__ import annotations

import pandas as pd

from ..errors import M2PTError

_IDENTITY = ("run_id",)                       # same run when present, else the same results
_RESULTS = ("test_acc", "test_loss", "test_items")


def baseline_by_seed(table: pd.DataFrame) -> pd.DataFrame:
    """The baseline rows of ``table`` indexed by seed, one per seed (ValueError-like M2PTError when
    a seed has two different baseline runs)."""
    base = table[table.arm == "baseline"]
    same = [c for c in _IDENTITY if c in base.columns] or [c for c in _RESULTS if c in base.columns]
    base = base.drop_duplicates(subset=["seed", *same])
    clash = base.seed[base.seed.duplicated()].unique().tolist()
    if clash:
        shown = base[base.seed.isin(clash)]
        ids = ", ".join(str(r.get("run_id", r.get("run_dir", i))) for i, r in shown.head(4).iterrows())
        raise M2PTError(f"{len(shown)} different baseline runs share seed(s) {clash} ({ids}); expected one baseline "
                        "per seed to pair with: summarise each recipe's (or dataset's) table separately.")
    return base.set_index("seed")
