"""The last block computed for the cls token only, when the head reads nothing else.

With token pooling the logits depend on token 0 of the last block's output alone. That token
needs the keys and values of every token (the qkv layer runs on all T tokens) but its own query,
attention output, projection and MLP only: about a quarter of the block's work for T ≈ 17–200.
The same operations on the kept rows, so equal to the full block within float rounding (matmuls
over fewer rows may sum in another order: ~1e-7 on the logits), not bit for bit. Knockouts, sweeps
and the incremental evaluator compute their reference and every perturbed point through this same
path (stages.py), so a Δ they report is never the difference of two paths. Any block that is not
a plain timm Block with a plain timm Attention falls back to the full block.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from timm.layers.attention import Attention
from timm.models.vision_transformer import Block
from torch import nn


def reads_cls_only(model: nn.Module) -> bool:
    """True when the model's head uses token 0 of the final hidden states and nothing else."""
    if getattr(model, "global_pool", None) != "token":
        return False
    # timm ViTs may pool with an attention module that reads every token.
    return getattr(model, "attn_pool", None) is None


def _plain_block(block: nn.Module) -> bool:
    return (type(block) is Block and type(block.attn) is Attention and getattr(block.attn, "gate", None) is None)


def cls_tail(model: nn.Module, block: nn.Module) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """A function (B, T, D) → (B, 1, D) giving the block's output at token 0, or None if the
    shortcut does not apply. Eval mode only (no dropout), which is how analysis runs."""
    if not (reads_cls_only(model) and _plain_block(block)):
        return None
    attn = block.attn

    def tail(h: torch.Tensor) -> torch.Tensor:
        B, T, _ = h.shape
        qkv = attn.qkv(block.norm1(h))                                    # (B, T, 3·A), λ included
        qkv = qkv.reshape(B, T, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                           # (B, H, T, hd) each
        q, k = attn.q_norm(q), attn.k_norm(k)
        o = F.scaled_dot_product_attention(q[:, :, :1], k, v, scale=attn.scale)   # (B, H, 1, hd)
        o = attn.proj(attn.norm(o.transpose(1, 2).reshape(B, 1, attn.attn_dim)))  # (B, 1, D)
        x = h[:, :1] + block.ls1(o)                                       # drop paths are identity in eval
        return x + block.ls2(block.mlp(block.norm2(x)))                  # (B, 1, D)

    return tail
