"""Patch embeddings over 2-D grids: images (C, H, W) and log-mel spectrograms (1, F, T)."""
from __future__ import annotations

import torch
from timm.layers import PatchEmbed
from torch import nn

from ..modalities import AudioSpec, ImageSpec


class ImagePatchEmbed(nn.Module):
    """Non-overlapping square patches → linear projection. (B, C, H, W) → (B, N, D)."""

    adds_positions = False

    def __init__(self, spec: ImageSpec, embed_dim: int):
        super().__init__()
        # timm's PatchEmbed keeps the submodule name `proj`, so timm ViT patch weights map 1:1.
        self.patch = PatchEmbed(spec.img_size, spec.patch_size, spec.in_chans, embed_dim)
        self.num_tokens = self.patch.num_patches
        self.grid_size = self.patch.grid_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch(x)  # (B, N, D), N = (H/p) * (W/p)


class AudioPatchEmbed(nn.Module):
    """AudioMAE-style: the spectrogram is an image with one channel. (B, 1, F, T) → (B, N, D)."""

    adds_positions = False

    def __init__(self, spec: AudioSpec, embed_dim: int):
        super().__init__()
        self.patch = PatchEmbed((spec.n_mels, spec.n_frames), spec.patch_size, 1, embed_dim)
        self.num_tokens = self.patch.num_patches
        self.grid_size = self.patch.grid_size  # (F/p, T/p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch(x)  # (B, N, D)
