"""Named transformer sizes, shared by every modality so that any two models of one size pair up.

A pathway needs the target and the auxiliary to agree layer by layer (width, MLP width, depth);
the number of heads does not change any weight shape.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    embed_dim: int   # D: token width
    depth: int       # L: number of transformer blocks
    num_heads: int
    mlp_dim: int     # hidden width of each block's MLP (fc1 out, fc2 in)

    @property
    def mlp_ratio(self) -> float:
        return self.mlp_dim / self.embed_dim


_SIZES: dict[str, ModelSize] = {}


def register_size(name: str, size: ModelSize) -> None:
    """Add a named size (usable by every modality)."""
    _SIZES[name] = size


def get_size(name: str) -> ModelSize:
    if name not in _SIZES:
        raise ValueError(f"Unknown model size {name!r}; expected one of {', '.join(list_sizes())}.")
    return _SIZES[name]


def list_sizes() -> list[str]:
    return list(_SIZES)


register_size("test", ModelSize(embed_dim=32, depth=2, num_heads=2, mlp_dim=64))       # unit tests
register_size("demo", ModelSize(embed_dim=192, depth=6, num_heads=3, mlp_dim=768))     # bundled CPU zoo
register_size("small6", ModelSize(embed_dim=384, depth=6, num_heads=6, mlp_dim=1536))  # = MiniLM-L6 shapes
register_size("vit_tiny", ModelSize(embed_dim=192, depth=12, num_heads=3, mlp_dim=768))
register_size("vit_small", ModelSize(embed_dim=384, depth=12, num_heads=6, mlp_dim=1536))
register_size("vit_base", ModelSize(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072))
register_size("vit_large", ModelSize(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096))
