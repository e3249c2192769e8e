"""MultimodalViT: a modality tokenizer in front of standard timm transformer blocks.

    input ──► tokenizer ──► (B, N, D) ──► [cls] + pos ──► blocks (timm Block) ──► norm ──► head

Submodule names follow timm's VisionTransformer (``blocks.{i}.attn.qkv``, ``attn.proj``,
``mlp.fc1``, ``mlp.fc2``, ``norm``, ``head``), so timm / MAE-family block weights map onto it
without renaming and pathways attach the same way to both.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

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

    def finish(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from the states after the last block: (B, 1 + N, D), or (B, 1, D) when
        the head reads only the cls token (analysis may compute the last block for it alone)."""
        return self.forward_head(self.norm(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # -- what the model declares, as timm's VisionTransformer does --------------------------------
    # The stages: embed (input → (B, 1 + N, D)), blocks (timm Blocks), finish (→ logits). Analysis
    # starts a forward pass at any block with them (analysis/stages.py).

    def forward_intermediates(self, x: torch.Tensor, indices: Optional[Union[int, list[int]]] = None,
                              return_prefix_tokens: bool = False, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NLC", intermediates_only: bool = False) -> Any:
        """The outputs of chosen blocks, as timm's ``VisionTransformer.forward_intermediates``.

        Args:
            x: input batch in the model's input shape.
            indices: the last n blocks if an int, every block if None, else these block indices.
            return_prefix_tokens: give (cls (B, 1, D), tokens (B, N, D)) pairs instead of tokens.
            norm: pass each intermediate through the final norm.
            stop_early: run no block after the last one asked for.
            output_fmt: "NLC" only (tokens of audio, point clouds and video are not an image grid).
            intermediates_only: return only the intermediates.
        Returns:
            ``intermediates`` (list of (B, N, D)) if intermediates_only, else
            (final features (B, 1 + N, D) after the norm, intermediates).
        """
        if output_fmt != "NLC":
            raise ValueError(f"output_fmt must be 'NLC' for a MultimodalViT; got {output_fmt!r}.")
        depth = len(self.blocks)
        take = list(range(depth - indices, depth)) if isinstance(indices, int) else \
            list(range(depth)) if indices is None else [i % depth for i in indices]
        last = max(take, default=-1) if stop_early else depth - 1
        h, out = self.embed(x), []                                        # (B, 1 + N, D)
        for i, block in enumerate(self.blocks[:last + 1]):
            h = block(h)
            if i in take:
                y = self.norm(h) if norm else h
                out.append((y[:, :1], y[:, 1:]) if return_prefix_tokens else y[:, 1:])
        if intermediates_only:
            return out
        return self.norm(h), out

    def no_weight_decay(self) -> set[str]:
        """Parameter names (fnmatch patterns) trained without weight decay, besides biases and
        every tensor of one dimension or less (norm weights), as timm's optimizer factory reads them."""
        return {"pos_embed", "cls_token"}

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Parameter groups by depth, as timm's ``group_matcher`` (for per-layer lr decay or freezing):
        the stem (tokenizer, cls token, positions), each block, then the final norm; the head and
        fc_norm fall in the last group. ``coarse`` is accepted for timm's signature (same groups)."""
        return dict(stem=r"^cls_token|pos_embed|tokenizer", blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))])

    def draws_random(self) -> bool:
        """True when the training forward draws random numbers: drop-path is the only random layer
        of a MultimodalViT (timm Blocks are built with attention and projection dropout 0)."""
        return self.config.drop_path_rate > 0


def create_model(size: str, modality: str, num_classes: int, **overrides: Any) -> MultimodalViT:
    """A fresh MultimodalViT, e.g. ``create_model("demo", "audio", 10, n_mels=128)``.

    Args:
        size: a named size ("test", "demo", "small6", "vit_tiny", ...; sizes.list_sizes()).
        modality: "image", "audio", "pointcloud" or "video".
        num_classes: outputs of the classification head.
        **overrides: input fields (e.g. n_mels, image_size) and model fields (class_names,
            drop_path_rate, global_pool, fc_norm, dataset); see ``make_config``.
    Returns:
        The model, randomly initialised (timm's ViT initialisation).
    """
    return MultimodalViT(make_config(size, modality, num_classes, **overrides))
