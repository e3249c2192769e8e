"""Weight statistics per pathway: how big the auxiliary contribution λW' is next to W, and how
aligned W' is with W.

Columns: name, layer, component, lam, norm_w = ‖W‖, norm_aux = ‖W'‖, norm_lam_aux = ‖λW'‖ = |λ|·‖W'‖,
ratio = ‖λW'‖ / ‖W‖, cosine = ⟨W, W'⟩ / (‖W‖·‖W'‖). Norms are Frobenius norms and the cosine is that
of the flattened matrices, all computed in float64.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import pandas as pd
import torch
from torch import nn

from ..errors import PathwayMismatchError
from ..pathways import COMPONENTS, PathwayLinear, find_blocks, load_aux, pathway_modules, split_name
from ..pathways.compat import check_pair, target_module

STATS_COLUMNS = ["name", "layer", "component", "lam", "norm_w", "norm_aux", "norm_lam_aux", "ratio", "cosine"]


def _row(name: str, W: torch.Tensor, Wp: torch.Tensor, lam: float) -> dict[str, Any]:
    W, Wp = W.detach().double().flatten(), Wp.detach().double().flatten()   # (out·in,)
    nw, na = float(torch.linalg.norm(W)), float(torch.linalg.norm(Wp))
    cos = float(W @ Wp) / (nw * na) if nw > 0 and na > 0 else math.nan
    layer, comp = split_name(name)
    nl = abs(lam) * na
    return {"name": name, "layer": layer, "component": comp, "lam": lam, "norm_w": nw, "norm_aux": na,
            "norm_lam_aux": nl, "ratio": nl / nw if nw > 0 else math.nan, "cosine": cos}


def _bare_weight(m: PathwayLinear) -> torch.Tensor:
    """The target's own W, also while the pathway is merged into it."""
    return m.to_linear(merge=False).weight if m.merged else m.weight


def weight_stats(model: nn.Module) -> pd.DataFrame:
    """Statistics of every pathway of a model with pathways attached (merged or not)."""
    rows = [_row(n, _bare_weight(m), m.aux_weight, m.lam_value) for n, m in pathway_modules(model).items()]
    if not rows:
        raise ValueError("The model has no pathways; use weight_stats_pair(target, aux) before attaching.")
    return pd.DataFrame(rows, columns=STATS_COLUMNS)


def weight_stats_pair(target: nn.Module, aux_source: Any, components: Iterable[str] = COMPONENTS,
                      lam: float = math.nan, prefix: Optional[str] = None) -> pd.DataFrame:
    """Statistics of a (target, auxiliary) pair before any pathway exists.

    There is no λ yet, so lam defaults to NaN and with it norm_lam_aux and ratio (NaN, not 0: "no
    λ" is not "λ = 0"); pass a number to see the ratio a hypothetical λ would give. aux_source is
    anything load_aux accepts. Shape mismatches raise one PathwayMismatchError listing them all."""
    aux = load_aux(aux_source, prefix=prefix)
    blocks = find_blocks(target)
    rows, problems = [], []
    for i, block in enumerate(blocks):
        for comp in components:
            name = f"blocks.{i}.{comp}"
            mod, Wp = target_module(block, comp), aux.get(i, comp)
            check = check_pair(mod, Wp)
            if not check.ok:
                problems.append(check.problem(name, i, comp))
                continue
            W = _bare_weight(mod) if isinstance(mod, PathwayLinear) else mod.weight
            rows.append(_row(name, W, Wp, float(lam)))
    if problems:
        raise PathwayMismatchError(problems)
    return pd.DataFrame(rows, columns=STATS_COLUMNS)
