"""Can a target layer and an auxiliary weight pair up? One check, used by attach_pathways, the
compatibility table and the pair statistics, so all three say the same thing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .layer import PathwayLinear

Shape = Optional[tuple[int, ...]]


@dataclass(frozen=True)
class PairCheck:
    """The outcome for one (layer, component): ``why`` is a short reason ("same shape", "input
    width differs (32 vs 384)", ...); ``problem`` words it as an error line."""
    ok: bool
    why: str
    target_shape: Shape = None
    aux_shape: Shape = None

    def problem(self, name: str, aux_layer: int, component: str) -> str:
        """'blocks.1.attn.qkv: shape mismatch, target (96, 32) vs auxiliary block 1 (48, 16) (...)'."""
        if self.target_shape is not None and self.aux_shape is None:
            return f"{name}: auxiliary has no block {aux_layer} {component}"
        if self.target_shape is not None:
            return (f"{name}: shape mismatch, target {self.target_shape} vs auxiliary block {aux_layer} "
                    f"{self.aux_shape} ({self.why})")
        return f"{name}: {self.why}"


def target_module(block: nn.Module, component: str) -> Optional[nn.Module]:
    """``block``'s submodule ``component`` ("attn.qkv"), or None."""
    try:
        return block.get_submodule(component)
    except AttributeError:
        return None


def check_pair(module: Optional[nn.Module], aux_weight: Optional[torch.Tensor],
               pathway_ok: bool = True) -> PairCheck:
    """Whether the target's ``module`` (nn.Linear, or PathwayLinear when ``pathway_ok``) and the
    auxiliary weight (out, in) have the same shape, and why not."""
    a_shape = tuple(aux_weight.shape) if aux_weight is not None else None
    if module is None:
        return PairCheck(False, "target has no such module", None, a_shape)
    if isinstance(module, PathwayLinear) and not pathway_ok:
        return PairCheck(False, "already has a pathway (merge or unload it first)", None, a_shape)
    if not isinstance(module, (nn.Linear, PathwayLinear)):
        return PairCheck(False, f"target module is a {type(module).__name__}, not a linear layer", None, a_shape)
    t_shape = tuple(module.weight.shape)
    if a_shape is None:
        return PairCheck(False, "auxiliary has no such layer", t_shape)
    if t_shape == a_shape:
        return PairCheck(True, "same shape", t_shape, a_shape)
    if len(t_shape) != 2 or len(a_shape) != 2:
        return PairCheck(False, "not a matrix", t_shape, a_shape)
    (to, ti), (ao, ai) = t_shape, a_shape
    why = f"input width differs ({ti} vs {ai})" if ti != ai else f"output width differs ({to} vs {ao})"
    return PairCheck(False, why, t_shape, a_shape)
