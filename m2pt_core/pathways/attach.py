"""attach_pathways: wrap the chosen linear layers of a target model with PathwayLinear.

Everything is validated before anything changes: on any problem one PathwayMismatchError lists
every mismatch (depth, each layer's shapes, missing modules) and the target is left untouched.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import PathwayMismatchError
from .aux_weights import COMPONENTS, AuxWeights
from .compat import check_pair, target_module
from .layer import PathwayLinear
from .loading import load_aux


@dataclass
class AttachReport:
    names: list[str]                  # module names that got a pathway, e.g. "blocks.0.attn.qkv"
    layers: list[int]
    components: list[str]
    aux: dict[str, Any]               # AuxWeights.describe()
    aux_trainable: bool
    lambda_init: float
    added_parameters: int             # W' (if trainable) + one λ per pathway
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"Attached {len(self.names)} pathways ({len(self.layers)} layers x {len(self.components)} "
                f"components) from {self.aux.get('source')} [{self.aux.get('modality') or 'unknown modality'}]; "
                f"aux {'trainable' if self.aux_trainable else 'frozen'}, λ init {self.lambda_init}, "
                f"+{self.added_parameters:,} parameters.")


def find_blocks(model: nn.Module) -> Sequence[nn.Module]:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, (nn.Sequential, nn.ModuleList)):
        raise PathwayMismatchError([f"target {type(model).__name__} has no `blocks` (nn.Sequential or "
                                    f"nn.ModuleList of transformer blocks), as timm ViTs have"])
    return blocks


def spread_layers(target_depth: int, aux_depth: int) -> list[int]:
    """Auxiliary blocks spread evenly over a target's depth, ending at the last one: a 24-block
    auxiliary on a 12-block target pairs target block i with auxiliary block 2i + 1."""
    return [round((i + 1) * aux_depth / target_depth) - 1 for i in range(target_depth)]


def attach_pathways(target: nn.Module, aux: Any, components: Iterable[str] = COMPONENTS,
                    layers: Optional[Iterable[int]] = None, lambda_init: float = 0.0,
                    aux_trainable: bool = True, aux_layers: Union[None, str, Iterable[int]] = None,
                    prefix: Optional[str] = None, aux_dtype: Optional[torch.dtype] = None) -> AttachReport:
    """Give the target's linear layers cross-modal pathways, in place.

    Args:
        target: a MultimodalViT or timm ViT (anything with ``blocks``).
        aux: anything ``load_aux`` accepts (or AuxWeights already loaded).
        components: which linear layers of a block ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2").
        layers: target block indices (default all).
        lambda_init: the initial λ of every pathway (the paper: 0).
        aux_trainable: train W' too (the paper), or keep it frozen.
        aux_layers: the auxiliary block paired with each target layer (default the same index; e.g.
            reversed order for the paper's ablation), or "spread" to pair a deeper auxiliary's blocks
            evenly over the target (see spread_layers).
        prefix: the auxiliary's encoder key prefix (see load_aux).
        aux_dtype: storage dtype of a frozen W' (torch.bfloat16 halves its memory; W + λ·W' is
            still summed in fp32).
    Returns:
        AttachReport: the pathways attached, and everything checked on the way.

    W' from a path or name is read privately here and adopted without a copy; W' from a module,
    state dict or AuxWeights the caller holds is copied (a trainable W' must not train their tensor)."""
    if aux_dtype is not None and aux_trainable:
        raise PathwayMismatchError([f"aux_dtype={aux_dtype} is for a frozen W' (aux_trainable=False); "
                                    f"a trainable W' keeps the weights' dtype"])
    private = isinstance(aux, (str, os.PathLike))
    aux_w: AuxWeights = load_aux(aux, prefix=prefix)
    blocks = find_blocks(target)
    components, depth = list(components), len(blocks)
    layers = list(range(depth)) if layers is None else list(layers)
    explicit = aux_layers is not None
    aux_layers = _resolve_aux_layers(aux_layers, layers, depth, aux_w.depth)
    problems = _selection_problems(components, layers, aux_layers, depth, aux_w.depth, explicit)
    plan = _plan_pairs(blocks, aux_w, layers, aux_layers, components, problems)
    if not plan and not problems:
        problems.append("nothing to attach: no (layer, component) selected")
    if problems:
        raise PathwayMismatchError(problems)
    names, described, notes = [n for n, _, _ in plan], aux_w.describe(), list(aux_w.notes)
    if private:
        aux_w.weights.clear()                # from here on `plan` holds the only references
    del aux_w
    added = _install(target, plan, lambda_init, aux_trainable, aux_dtype, adopt=private)
    target.pathway_info = {**described, "aux_trainable": aux_trainable, "lambda_init": lambda_init,
                           "aux_layers": dict(zip(map(str, layers), aux_layers))}
    return AttachReport(names, layers, components, described, aux_trainable, lambda_init, added, notes=notes)


def _resolve_aux_layers(aux_layers: Union[None, str, Iterable[int]], layers: list[int], depth: int,
                        aux_depth: int) -> list[int]:
    """The auxiliary block of each target layer: the same index, an explicit list, or "spread"."""
    if isinstance(aux_layers, str):
        if aux_layers != "spread":
            raise PathwayMismatchError([f"aux_layers={aux_layers!r}: expected a list of auxiliary block indices or 'spread'"])
        spread = spread_layers(depth, aux_depth)
        return [spread[i] if 0 <= i < depth else i for i in layers]
    return list(layers) if aux_layers is None else list(aux_layers)


def _selection_problems(components: list[str], layers: list[int], aux_layers: list[int], depth: int,
                        aux_depth: int, explicit: bool) -> list[str]:
    """What is wrong with the requested (layers, components, aux_layers), each with a hint."""
    problems: list[str] = []
    bad = [c for c in components if c not in COMPONENTS]
    if bad:
        problems.append(f"unknown component(s) {bad}; expected some of {list(COMPONENTS)}")
    if len(aux_layers) != len(layers):
        problems.append(f"aux_layers has {len(aux_layers)} entries but layers has {len(layers)}")
    if aux_depth != depth and len(layers) == depth and not explicit:
        if aux_depth > depth:
            hint = (f"; to pair a deeper auxiliary, pass aux_layers='spread' (target block i ← auxiliary block "
                    f"{spread_layers(depth, aux_depth)[:4]}...) or an explicit list of {depth} auxiliary block indices "
                    f"(CLI: --aux-layers spread)")
        else:
            hint = (f"; pass layers= (a subset of target blocks) with aux_layers= to pair only {aux_depth} of them "
                    f"(CLI: --layers I,J,... --aux-layers 0,1,...)")
        problems.append(f"depth mismatch: target has {depth} blocks, auxiliary has {aux_depth}{hint}")
    problems += [f"layer {i} does not exist: target has blocks 0..{depth - 1}" for i in layers if not 0 <= i < depth]
    return problems


def _plan_pairs(blocks: Any, aux_w: AuxWeights, layers: list[int], aux_layers: list[int], components: list[str],
                problems: list[str]) -> list[Any]:
    """(name, target linear, W') of every valid pair; shape problems are appended to ``problems``."""
    plan: list[Any] = []
    for i, j in zip(layers, aux_layers):
        if not 0 <= i < len(blocks):
            continue
        for comp in (c for c in components if c in COMPONENTS):
            name = f"blocks.{i}.{comp}"
            mod, w = target_module(blocks[i], comp), aux_w.get(j, comp)
            check = check_pair(mod, w, pathway_ok=False)
            if not check.ok:
                problems.append(check.problem(name, j, comp))
                continue
            plan.append((name, mod, w))
    return plan


def _install(target: nn.Module, plan: list[Any], lambda_init: float, aux_trainable: bool,
             aux_dtype: Optional[torch.dtype], adopt: bool) -> int:
    """Replace each planned linear by a PathwayLinear; returns the trainable parameters added.
    ``plan`` is emptied as it goes: a converted (bf16) W' never coexists with more than one fp32
    block of the file; a W' read privately (``adopt``) is adopted without a copy unless one
    auxiliary block is paired twice (then each pathway needs its own)."""
    added = 0
    used = [id(w) for _, _, w in plan]
    for k in range(len(plan)):
        (name, mod, w), plan[k] = plan[k], None
        parent, _, child = name.rpartition(".")
        layer = PathwayLinear(mod, w, lambda_init=lambda_init, aux_trainable=aux_trainable, aux_dtype=aux_dtype,
                              adopt_aux=adopt and used.count(id(w)) == 1)
        setattr(target.get_submodule(parent), child, layer)
        added += 1 + (w.numel() if aux_trainable else 0)
        del w
    return added
