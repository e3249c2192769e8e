"""The layer × component compatibility table of a (target, auxiliary) pair.

attach_pathways refuses a pair with one error listing every mismatch; this table shows the
same facts for every layer and component — matching ones included — so a user sees at a
glance what would pair up and why the rest does not.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import pandas as pd
from torch import nn

from ..pathways import COMPONENTS, PathwayLinear, find_blocks, spread_layers
from ..pathways.aux_weights import AuxWeights

COMPAT_COLUMNS = ["layer", "aux_layer", "component", "target_shape", "aux_shape", "match", "why"]
DEEPER_HINT = ("the auxiliary is deeper than the target: pair its blocks evenly with aux_layers='spread' "
               "(dashboard: tick “spread a deeper auxiliary”)")


def _target_weight_shape(block: nn.Module, comp: str) -> tuple[Optional[tuple[int, ...]], str]:
    try:
        mod = block.get_submodule(comp)
    except AttributeError:
        return None, "target has no such module"
    if isinstance(mod, (nn.Linear, PathwayLinear)):
        return tuple(mod.weight.shape), ""
    return None, f"target module is a {type(mod).__name__}, not a linear layer"


def _why(t_shape, a_shape, t_note: str) -> str:
    if t_shape is None:
        return t_note
    if a_shape is None:
        return "auxiliary has no such layer"
    if t_shape == a_shape:
        return "same shape"
    (to, ti), (ao, ai) = t_shape, a_shape
    if ti != ai:
        return f"input width differs ({ti} vs {ai})"
    return f"output width differs ({to} vs {ao})"


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
            if i < len(blocks):
                t_shape, t_note = _target_weight_shape(blocks[i], comp)
            else:
                t_shape, t_note = None, f"target has only {len(blocks)} blocks; {DEEPER_HINT}"
            w = aux.get(j, comp)
            a_shape = tuple(w.shape) if w is not None else None
            rows.append({"layer": i, "aux_layer": j, "component": comp,
                         "target_shape": "×".join(map(str, t_shape)) if t_shape else "—",
                         "aux_shape": "×".join(map(str, a_shape)) if a_shape else "—",
                         "match": t_shape is not None and t_shape == a_shape,
                         "why": _why(t_shape, a_shape, t_note)})
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
