"""Tubelet (3-D patch) embedding, as VideoMAE does. (B, C, T, H, W) → (B, N, D)."""
from __future__ import annotations

import torch
from torch import nn

from ..modalities import VideoSpec


class TubeletEmbed(nn.Module):
    adds_positions = False

    def __init__(self, spec: VideoSpec, embed_dim: int):
        super().__init__()
        t, p = spec.tubelet_size, spec.patch_size
        if spec.num_frames % t or spec.img_size % p:
            raise ValueError(
                f"Video input {spec.num_frames}x{spec.img_size}x{spec.img_size} is not divisible into "
                f"tubelets of {t}x{p}x{p}; expected num_frames % {t} == 0 and img_size % {p} == 0."
            )
        self.grid_size = (spec.num_frames // t, spec.img_size // p, spec.img_size // p)
        self.num_tokens = self.grid_size[0] * self.grid_size[1] * self.grid_size[2]
        self.proj = nn.Conv3d(spec.in_chans, embed_dim, kernel_size=(t, p, p), stride=(t, p, p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)                      # (B, D, T/t, H/p, W/p)
        return x.flatten(2).transpose(1, 2)   # (B, N, D), time-major token order
