"""A model seen as three stages, so analysis can start the forward pass at any block:

    input ──embed──► (B, T, D) ──blocks[0] … blocks[L-1]──► (B, T, D) ──finish──► logits (B, C)

A model that declares its stages (MultimodalViT: ``embed`` / ``blocks`` / ``finish``) is asked; a
plain timm VisionTransformer is read from its layout (``patch_embed`` / ``_pos_embed`` /
``norm_pre`` / ``norm`` / ``forward_head``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import torch
from torch import nn

from ..pathways import find_blocks
from .cls_tail import cls_tail


@dataclass
class Stages:
    embed: Callable[[torch.Tensor], torch.Tensor]    # input → (B, T, D), ready for block 0
    blocks: Sequence[nn.Module]
    finish: Callable[[torch.Tensor], torch.Tensor]   # (B, T, D) after the last block → logits (B, C)
    # The last block for the cls token only, (B, T, D) → (B, 1, D), when the head reads nothing else.
    tail: Optional[Callable[[torch.Tensor], torch.Tensor]] = None

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def step(self, h: torch.Tensor, k: int) -> torch.Tensor:
        """Block k on the states entering it; the last block may return only what the head reads."""
        if k == len(self.blocks) - 1 and self.tail is not None:
            return self.tail(h)
        return self.blocks[k](h)


def model_stages(model: nn.Module, cls_shortcut: bool = True) -> Stages:
    """Split ``model`` into embed / blocks / finish (see module doc); TypeError if it cannot.

    cls_shortcut: compute the last block for the cls token only when that is all the head reads
    (see cls_tail.py; equal to the full forward within float rounding, and about 3/4 of a block
    cheaper per evaluation). Compare only scores computed by the same Stages."""
    blocks = find_blocks(model)
    tail = cls_tail(model, blocks[-1]) if cls_shortcut and len(blocks) else None
    if callable(getattr(model, "embed", None)) and callable(getattr(model, "finish", None)):
        return Stages(model.embed, blocks, model.finish, tail)      # the model declares its stages
    # Foreign models (a timm VisionTransformer): the same split, read from timm's layout.
    finish = lambda h: model.forward_head(model.norm(h))      # noqa: E731  (B, T or 1, D) → (B, C)
    if all(hasattr(model, a) for a in ("patch_embed", "_pos_embed", "norm", "forward_head")):
        def embed(x: torch.Tensor) -> torch.Tensor:
            # Same order as timm's VisionTransformer.forward_features.
            x = model._pos_embed(model.patch_embed(x))
            return model.norm_pre(model.patch_drop(x))
        return Stages(embed, blocks, finish, tail)
    raise TypeError(f"Cannot split {type(model).__name__} into embed / blocks / head: expected a model "
                    "that declares embed / blocks / finish (MultimodalViT) or a timm VisionTransformer.")


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """model.eval() for the duration, then every submodule's own training flag back."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in flags:
            m.training = training
