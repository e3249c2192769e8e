"""The layer × component compatibility table of a (target, auxiliary) pair.

attach_pathways refuses a pair with one error listing every mismatch; this table shows the
same facts for every layer and component — matching ones included — so a user sees at a
glance what would pair up and why the rest does not.
"""
from __future__ import annotations

import pandas as pd
from torch import nn

from ..pathways import COMPONENTS, find_blocks
from ..pathways.aux_weights import AuxWeights
from ..pathways.compat import PairCheck, check_pair, target_module

COMPAT_COLUMNS = ["layer", "component", "target_shape", "aux_shape", "match", "why"]


def compatibility_table(target: nn.Module, aux: AuxWeights) -> pd.DataFrame:
    """One row per (layer, component) over the deeper of the two models; shapes as 'out×in'."""
    try:
        blocks = list(find_blocks(target))
    except ValueError:
        blocks = []
    depth = max(len(blocks), (max(aux.layers) + 1) if aux.layers else 0)
    rows = []
    for i in range(depth):
        for comp in COMPONENTS:
            w = aux.get(i, comp)
            if i < len(blocks):
                check = check_pair(target_module(blocks[i], comp), w)
            else:
                check = PairCheck(False, f"target has only {len(blocks)} blocks", None,
                                  tuple(w.shape) if w is not None else None)
            t_shape, a_shape = check.target_shape, check.aux_shape
            rows.append({"layer": i, "component": comp,
                         "target_shape": "×".join(map(str, t_shape)) if t_shape else "—",
                         "aux_shape": "×".join(map(str, a_shape)) if a_shape else "—",
                         "match": check.ok, "why": check.why})
    return pd.DataFrame(rows, columns=COMPAT_COLUMNS)


def compatibility_summary(table: pd.DataFrame) -> str:
    """'24 of 24 pathways match' or what does not, in one line of Markdown."""
    n, ok = len(table), int(table["match"].sum())
    if n and ok == n:
        return f"**Compatible:** all {n} layer × component pairs have the same shapes, so pathways can be attached."
    reasons = table.loc[~table["match"], "why"].value_counts()
    top = "; ".join(f"{why} ({k}×)" for why, k in reasons.head(3).items())
    return f"**Not compatible:** {ok} of {n} layer × component pairs match, so this pair cannot be connected. Mismatches: {top}."
