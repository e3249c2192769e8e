"""Random auxiliary weights with another auxiliary's per-layer scale: the control arm."""
from __future__ import annotations

import zlib
from typing import Any

import torch

from .aux_weights import AuxWeights
from .loading import load_aux


def random_aux_like(aux: Any, seed: int) -> AuxWeights:
    """Gaussian weights with the same shape and Frobenius norm as each of ``aux``'s layers.

    Deterministic per (seed, layer, component): the same control for every run that asks for it."""
    aux = load_aux(aux)
    out = {}
    for (i, comp), w in sorted(aux.weights.items()):
        g = torch.Generator().manual_seed(seed * 100_003 + i * 1009 + zlib.crc32(comp.encode()) % 1000)
        r = torch.randn(w.shape, generator=g)                                # (out, in)
        out[(i, comp)] = r * (w.float().norm() / r.norm().clamp_min(1e-12))
    return AuxWeights(out, source=f"random-like({aux.source}, seed={seed})", modality="random",
                      layout=aux.layout, notes=list(aux.notes))
