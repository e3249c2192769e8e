"""Merging: fold λ·W' into W so the deployed model is exactly the target architecture.

merge_pathways   – replace every PathwayLinear by a plain nn.Linear holding W + λW' (PEFT's
                   merge_and_unload).
unload_pathways  – replace them by the bare target layer (drop the pathway).
merge_all / unmerge_all – reversible in-place merge that keeps the pathway modules.
verify_merge     – max absolute output difference of two models on the same inputs.
settle_existing_pathways – merge or drop a target's pathways before a new auxiliary is attached.
"""
from __future__ import annotations

from typing import Iterable, Optional, Union

import torch
from torch import nn

from ..errors import PathwayMismatchError
from .lambdas import pathway_modules


def _replace(model: nn.Module, merge: bool, safe: bool) -> nn.Module:
    mods = pathway_modules(model)
    new = {name: m.to_linear(merge=merge) for name, m in mods.items()}
    if safe:
        bad = [n for n, lin in new.items() if not torch.isfinite(lin.weight).all()]
        if bad:
            raise ValueError(f"Merging produced non-finite weights in {bad}; the model was left unchanged.")
    for name, lin in new.items():
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, lin)
    if hasattr(model, "pathway_info"):
        del model.pathway_info
    return model


def merge_pathways(model: nn.Module, safe: bool = True) -> nn.Module:
    """Fold every pathway into plain nn.Linear layers, W ← W + λ·W', in place.

    Args:
        model: a model with pathways attached.
        safe: refuse (and change nothing) when a merged weight would be non-finite.
    Returns:
        The same model, with the target's architecture, parameter count and inference cost."""
    return _replace(model, merge=True, safe=safe)


def unload_pathways(model: nn.Module) -> nn.Module:
    """Remove every pathway, keeping the target's own W and b (in place; returns the model)."""
    return _replace(model, merge=False, safe=False)


def merge_all(model: nn.Module, safe: bool = True) -> None:
    """Reversible merge: each pathway folds λW' into W but stays a PathwayLinear."""
    mods = list(pathway_modules(model).values())
    done = []
    try:
        for m in mods:
            m.merge(safe=safe)
            done.append(m)
    except ValueError:
        for m in done:
            m.unmerge()
        raise


def unmerge_all(model: nn.Module) -> None:
    for m in pathway_modules(model).values():
        m.unmerge()


@torch.no_grad()
def verify_merge(a: nn.Module, b: nn.Module, inputs: Union[torch.Tensor, Iterable[torch.Tensor]]) -> float:
    """Max |a(x) - b(x)| over the inputs, both models in eval mode."""
    was = a.training, b.training
    a.eval(), b.eval()
    try:
        batches = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        return max(float((a(x).float() - b(x).float()).abs().max()) for x in batches)
    finally:
        a.train(was[0]), b.train(was[1])


EXISTING_PATHWAYS = ("merge", "replace")


def settle_existing_pathways(model: nn.Module, how: Optional[str]) -> int:
    """Make room for a new auxiliary on a target that already has pathways (an official M2PT
    checkpoint, one of ours): ``merge`` folds them in (W ← W + λW', their effect kept), ``replace``
    drops them (W kept, λW' gone). Returns how many there were; with none, ``how`` is ignored;
    with some and no ``how``, refuses with the choice."""
    n = len(pathway_modules(model))
    if n == 0:
        return 0
    if how not in EXISTING_PATHWAYS:
        raise PathwayMismatchError([
            f"the target already has {n} pathways (e.g. an M2PT checkpoint); to add a new auxiliary choose "
            "existing_pathways='merge' (fold W + λW' into W, keeping their effect) or 'replace' (drop them, "
            "keeping W) (CLI: --existing-pathways merge|replace)"])
    (merge_pathways if how == "merge" else unload_pathways)(model)
    return n
