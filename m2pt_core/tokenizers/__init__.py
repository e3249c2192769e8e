"""Modality tokenizers: each turns a batch of canonical inputs into tokens (B, N, D)."""
from __future__ import annotations

from torch import nn

from ..modalities import AudioSpec, ImageSpec, InputSpec, PointCloudSpec, VideoSpec
from .grid import AudioPatchEmbed, ImagePatchEmbed
from .points import PointGroupEmbed
from .video import TubeletEmbed

__all__ = ["AudioPatchEmbed", "ImagePatchEmbed", "PointGroupEmbed", "TubeletEmbed", "build_tokenizer"]


def build_tokenizer(spec: InputSpec, embed_dim: int) -> nn.Module:
    """The tokenizer that matches an input spec. Every tokenizer has ``num_tokens`` (N) and
    ``adds_positions`` (True when it adds its own position embedding, as the point tokenizer does)."""
    if isinstance(spec, ImageSpec):
        return ImagePatchEmbed(spec, embed_dim)
    if isinstance(spec, AudioSpec):
        return AudioPatchEmbed(spec, embed_dim)
    if isinstance(spec, PointCloudSpec):
        return PointGroupEmbed(spec, embed_dim)
    if isinstance(spec, VideoSpec):
        return TubeletEmbed(spec, embed_dim)
    raise TypeError(f"No tokenizer for input spec {type(spec).__name__}.")
