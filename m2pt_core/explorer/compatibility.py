"""The layer × component compatibility table of a (target, auxiliary) pair.

attach_pathways refuses a pair with one error listing every mismatch; this table shows the
same facts for every layer and component — matching ones included — so a user sees at a
glance what would pair up and why the rest does not.
"""
from __future__ import annotations

from typing import Sequence, Union

import pandas as pd
from torch import nn

from ..pathways import COMPONENTS, find_blocks, spread_layers
from ..pathways.aux_weights import AuxWeights
from ..pathways.compat import PairCheck, check_pair, target_module

COMPAT_COLUMNS = ["layer", "aux_layer", "component", "target_shape", "aux_shape", "match", "why"]
DEEPER_HINT = ("the auxiliary is deeper than the target: pair its blocks evenly with aux_layers='spread' "
               "(dashboard: tick “spread a deeper auxiliary”)")


def compatibility_table(target: nn.Module, aux: AuxWeights,
                        aux_layers: Union[None, str, Sequence[int]] = None) -> pd.DataFrame:
    """One row per (layer, component); shapes as 'out×in'. Without aux_layers, layer i pairs with
    auxiliary block i over the deeper of the two models; with it (a list or "spread"), each target
    block pairs with the auxiliary block named there."""
    try:
        blocks = list(find_blocks(target))
    except ValueError:
        blocks = []
    aux_depth = (max(aux.layers) + 1) if aux.layers else 0
    if aux_layers == "spread":
        aux_layers = spread_layers(len(blocks), aux_depth) if blocks else []
    pairs = list(enumerate(aux_layers)) if aux_layers is not None else \
        [(i, i) for i in range(max(len(blocks), aux_depth))]
    rows = []
    for i, j in pairs:
        for comp in COMPONENTS:
            w = aux.get(j, comp)
            if i < len(blocks):
                check = check_pair(target_module(blocks[i], comp), w)
            else:
                check = PairCheck(False, f"target has only {len(blocks)} blocks; {DEEPER_HINT}", None,
                                  tuple(w.shape) if w is not None else None)
            t_shape, a_shape = check.target_shape, check.aux_shape
            rows.append({"layer": i, "aux_layer": j, "component": comp,
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
    hint = f" Hint: {DEEPER_HINT}." if table["why"].str.contains("auxiliary is deeper").any() else ""
    return (f"**Not compatible:** {ok} of {n} layer × component pairs match, so this pair cannot be connected. "
            f"Mismatches: {top}.{hint}")
