"""Sharing loaded models between sessions read-only: a session that edits λ works on
``share_copy(model)``, which has its own λ but the same W / W' tensors, so memory stays one copy
of the weights per model however many people connect."""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from ..pathways import pathway_modules


def share_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that shares every weight tensor but owns its λ (PathwayLinear.lam) and
    module structure, so λ edits, attaching or merging never reach the original."""
    lams = {id(m.lam) for m in pathway_modules(model).values()}
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in lams:
            memo[id(t)] = t
    return copy.deepcopy(model, memo)
