"""Random auxiliary weights with another auxiliary's per-layer scale: the negative control arm."""
from __future__ import annotations

import hashlib
from typing import Any

import torch

from .aux_weights import AuxWeights
from .loading import load_aux


def random_stream_seed(seed: int, layer: int, component: str) -> int:
    """A 63-bit seed of its own for every (seed, layer, component), derived from the full name.

    Why a cryptographic hash: a short hash (a checksum modulo 1000, say) collides for some component
    names, and then two "independent" random controls are the same tensor."""
    digest = hashlib.sha256(f"m2pt-random-aux/{int(seed)}/{int(layer)}/{component}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def random_aux_like(aux: Any, seed: int) -> AuxWeights:
    """Independent Gaussian weights with the same shape and Frobenius norm as each of ``aux``'s layers.

    Every (seed, layer, component) draws from its own stream (``random_stream_seed``): blocks of
    different layers and components (and the q / k / v rows of one qkv) are independent, while one
    control stays the same for every run that asks for it (an ablation's one-layer random arm gets
    the same block as its all-layers random arm)."""
    aux = load_aux(aux)
    out = {}
    for (i, comp), w in sorted(aux.weights.items()):
        g = torch.Generator().manual_seed(random_stream_seed(seed, i, comp))
        r = torch.randn(w.shape, generator=g)                                # (out, in)
        out[(i, comp)] = r * (w.float().norm() / r.norm().clamp_min(1e-12))
    return AuxWeights(out, source=f"random-like({aux.source}, seed={seed})", modality="random",
                      layout=aux.layout, notes=list(aux.notes))
