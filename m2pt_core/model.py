"""MultimodalViT: a modality tokenizer in front of standard timm transformer blocks.

    input ──► tokenizer ──► (B, N, D) ──► [cls] + pos ──► blocks (timm Block) ──► norm ──► head

Submodule names follow timm's VisionTransformer (``blocks.{i}.attn.qkv``, ``attn.proj``,
``mlp.fc1``, ``mlp.fc2``, ``norm``, ``head``), so timm / MAE-family block weights map onto it
without renaming and pathways attach the same way to both.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from timm.layers import Mlp, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from .config import ModelConfig, make_config
from .tokenizers import build_tokenizer


def _mlp_of_width(hidden: int) -> Callable[..., Mlp]:
    """timm's Mlp with exactly ``hidden`` features: Block derives int(dim * mlp_ratio), which
    rounds down (embed_dim 88, mlp_dim 120 would give 119)."""
    def make(**kwargs: Any) -> Mlp:
        return Mlp(**{**kwargs, "hidden_features": hidden})
    return make


class MultimodalViT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        D = config.embed_dim
        self.num_classes = config.num_classes
        self.num_features = self.embed_dim = D
        self.global_pool = config.global_pool
        self.tokenizer = build_tokenizer(config.input, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        # Grid tokenizers get a learned table for cls + every token; the point tokenizer adds
        # centre-based positions itself, so only the cls slot gets a learned position.
        num_pos = 1 + (0 if self.tokenizer.adds_positions else self.tokenizer.num_tokens)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, D))
        dpr = torch.linspace(0, config.drop_path_rate, config.depth).tolist()
        self.blocks = nn.Sequential(*[
            Block(D, config.num_heads, qkv_bias=True, drop_path=dpr[i], mlp_layer=_mlp_of_width(config.mlp_dim))
            for i in range(config.depth)
        ])
        # fc_norm (timm / MAE fine-tuning layout): no norm on the tokens, a LayerNorm after pooling.
        self.norm = nn.Identity() if config.fc_norm else nn.LayerNorm(D, eps=1e-6)
        self.fc_norm = nn.LayerNorm(D, eps=1e-6) if config.fc_norm else nn.Identity()
        self.head = nn.Linear(D, config.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens with cls and positions, ready for block 0: (B, 1 + N, D)."""
        tokens = self.tokenizer(x)                                       # (B, N, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)            # (B, 1, D)
        if self.tokenizer.adds_positions:
            return torch.cat([cls + self.pos_embed, tokens], dim=1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.embed(x)))                     # (B, 1 + N, D)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 1:].mean(dim=1) if self.global_pool == "avg" else x[:, 0]   # (B, D)
        x = self.fc_norm(x)
        return x if pre_logits else self.head(x)                          # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def create_model(size: str, modality: str, num_classes: int, **overrides: Any) -> MultimodalViT:
    """A fresh MultimodalViT, e.g. ``create_model("demo", "audio", 10, n_mels=128)``.

    See ``make_config`` for what ``overrides`` may contain."""
    return MultimodalViT(make_config(size, modality, num_classes, **overrides))
