"""The controls of the instrument: an independent random control, a positive control kept apart
from the target's evaluation items, the target-data fraction, and the stated power."""
from __future__ import annotations

import itertools

import pytest
import torch

from m2pt_core import create_model
from m2pt_core.pathways import load_aux
from m2pt_core.pathways.random_aux import random_aux_like


def _blocks(aux) -> dict[str, torch.Tensor]:
    """Every random W' block flattened: each component of each layer, qkv also as its q / k / v rows."""
    out = {}
    for (i, comp), w in aux.weights.items():
        out[f"{i}.{comp}"] = w.flatten()
        if comp.endswith("qkv"):
            for name, part in zip("qkv", w.chunk(3, dim=0)):                 # (D, D) each
                out[f"{i}.{comp}.{name}"] = part.flatten()
    return out


@pytest.mark.parametrize("size", ["demo", "small6"])
def test_random_control_blocks_are_independent_and_keep_norms(size):
    torch.manual_seed(0)
    aux = load_aux(create_model(size, "audio", 5))
    rnd = random_aux_like(aux, seed=3)
    for key, w in aux.weights.items():
        assert torch.allclose(rnd.weights[key].norm(), w.float().norm(), rtol=1e-5)
    blocks = _blocks(rnd)
    worst = 0.0
    for (a, x), (b, y) in itertools.combinations(blocks.items(), 2):
        if b.startswith(a) or a.startswith(b):
            continue                                                         # qkv and its own rows
        n = min(len(x), len(y))                                              # a shared stream shows in the prefix
        cos = float(torch.nn.functional.cosine_similarity(x[:n], y[:n], dim=0).abs())
        worst = max(worst, cos)
        assert cos < 0.05, f"{a} and {b}: |cosine| {cos:.3f}"
    assert worst > 0.0
    other_seed = random_aux_like(aux, seed=4)
    for key in rnd.weights:
        x, y = rnd.weights[key].flatten(), other_seed.weights[key].flatten()
        assert float(torch.nn.functional.cosine_similarity(x, y, dim=0).abs()) < 0.05
