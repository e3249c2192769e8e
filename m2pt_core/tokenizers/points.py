"""Point-cloud tokenizer, as Point-MAE does: farthest point sampling picks G centres, each centre
gathers its k nearest neighbours, and a small PointNet embeds each local group into one token.
Positions come from the centres (an MLP on xyz), so this tokenizer adds its own position embedding.
"""
from __future__ import annotations

import torch
from torch import nn

from ..modalities import PointCloudSpec


def farthest_point_sample(points: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Indices (B, G) of G points chosen greedily far from each other. points: (B, P, 3).

    Starts from point 0 (deterministic); loops G times, each step vectorised over the batch."""
    B, P, _ = points.shape
    idx = torch.zeros(B, num_samples, dtype=torch.long, device=points.device)
    dist = torch.full((B, P), float("inf"), device=points.device, dtype=points.dtype)
    farthest = torch.zeros(B, dtype=torch.long, device=points.device)
    batch = torch.arange(B, device=points.device)
    for i in range(num_samples):
        idx[:, i] = farthest
        centre = points[batch, farthest].unsqueeze(1)            # (B, 1, 3)
        dist = torch.minimum(dist, ((points - centre) ** 2).sum(-1))  # (B, P)
        farthest = dist.argmax(-1)
    return idx


def group_points(points: torch.Tensor, num_groups: int, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a cloud into local groups. points (B, P, 3) → groups (B, G, k, 3) relative to their
    centre, and centres (B, G, 3)."""
    B = points.shape[0]
    batch = torch.arange(B, device=points.device)[:, None]
    centres = points[batch, farthest_point_sample(points, num_groups)]           # (B, G, 3)
    knn = torch.cdist(centres, points).topk(group_size, dim=-1, largest=False).indices  # (B, G, k)
    groups = points[batch[:, :, None], knn]                                       # (B, G, k, 3)
    return groups - centres.unsqueeze(2), centres


class PointGroupEmbed(nn.Module):
    adds_positions = True

    def __init__(self, spec: PointCloudSpec, embed_dim: int, hidden: int = 32):
        super().__init__()
        if spec.group_size > spec.num_points or spec.num_groups > spec.num_points:
            raise ValueError(
                f"Point tokenizer needs num_groups ({spec.num_groups}) and group_size ({spec.group_size}) "
                f"no larger than num_points ({spec.num_points})."
            )
        self.num_groups, self.group_size = spec.num_groups, spec.group_size
        self.num_tokens = spec.num_groups
        # Mini-PointNet: shared per-point MLP, max-pool, concat the pooled feature back, MLP, max-pool.
        self.first_mlp = nn.Sequential(nn.Linear(3, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, hidden * 2))
        self.second_mlp = nn.Sequential(
            nn.Linear(hidden * 4, hidden * 4), nn.LayerNorm(hidden * 4), nn.GELU(), nn.Linear(hidden * 4, embed_dim)
        )
        self.pos_mlp = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        groups, centres = group_points(points, self.num_groups, self.group_size)  # (B,G,k,3), (B,G,3)
        f = self.first_mlp(groups)                                    # (B, G, k, 2h)
        pooled = f.max(dim=2, keepdim=True).values.expand_as(f)       # (B, G, k, 2h)
        f = self.second_mlp(torch.cat([pooled, f], dim=-1))           # (B, G, k, D)
        tokens = f.max(dim=2).values                                  # (B, G, D)
        return tokens + self.pos_mlp(centres)                         # (B, G, D)
