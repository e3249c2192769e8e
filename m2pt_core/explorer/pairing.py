"""Opening a (target, auxiliary) pair for one session: the target's model with pathways to the
auxiliary, on a copy that shares every weight tensor, so the session's λ edits reach no one else.
A catalog pair is prepared once per process (W' attached once) and each session gets a λ-only copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd
from torch import nn

from ..pathways import attach_pathways, merge_pathways, pathway_modules
from .sharing import share_copy
from .compatibility import compatibility_table
from .sources import NO_AUX, SessionSources, Source


@dataclass
class OpenPair:
    """What a session has open: its own pathway model, the read-only baseline to compare with, how
    it was opened (notes for the page and the export) and the compatibility table of the pair."""
    target: str
    aux: str
    model: nn.Module
    baseline: Optional[nn.Module]
    baseline_name: Optional[str]
    data_size: Optional[int]
    shared: bool                                   # the same weights for every session
    notes: list[str] = field(default_factory=list)
    compat: Optional[pd.DataFrame] = None


def _prepare(sources: SessionSources, aux: str, source: nn.Module, aux_layers: Any = None
             ) -> tuple[nn.Module, list[str], Optional[pd.DataFrame], bool]:
    """``source`` with pathways to ``aux`` (sharing its weights): (model, notes, compatibility
    table, whether fresh pathways were attached). Raises on a pair that does not fit."""
    model = share_copy(source)
    own = (getattr(source, "pathway_info", None) or {}).get("source")
    notes, compat, attached = [], None, False
    if pathway_modules(model) and aux != own:
        merge_pathways(model)          # new Linear modules; the shared source is untouched
        notes.append("the target's own pathways were merged into its weights")
    if aux != NO_AUX and not pathway_modules(model):
        aux_w = sources.aux_weights(aux)
        compat = compatibility_table(model, aux_w, aux_layers)
        attach_pathways(model, aux_w, lambda_init=0.0, aux_trainable=False, aux_layers=aux_layers)
        notes.append(f"pathways to {aux} attached at λ = 0")
        attached = True
    elif aux != NO_AUX:
        compat = compatibility_table(model, sources.aux_weights(aux))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval(), notes, compat, attached


def open_pair(sources: SessionSources, target: str, aux: str, aux_layers: Any = None) -> OpenPair:
    """``target`` with pathways to ``aux``: a target that already has pathways keeps them (and its
    learned λ) when ``aux`` is the auxiliary it was trained with; with NO_AUX it is used merged; with
    another auxiliary its merged weights become the new W and fresh pathways start at λ = 0 (then the
    target as it was is the baseline, unless it has one). Raises on a pair that does not fit."""
    src: Source = sources.source(target)
    shared = src.in_catalog and sources.is_shared(target, aux)
    if shared:
        prepared, notes, compat, attached = sources.catalog.shared_pair(
            (target, aux, str(aux_layers)), lambda: _prepare(sources, aux, src.model, aux_layers))
        model = share_copy(prepared)
    else:
        model, notes, compat, attached = _prepare(sources, aux, src.model, aux_layers)
    baseline, baseline_name = src.baseline, src.baseline_name
    if attached and baseline is None:
        baseline, baseline_name = src.model, target
    return OpenPair(target, aux, model, baseline, baseline_name, src.data_size, shared, list(notes), compat)
