"""Shared fixtures: tiny models for every modality and their inputs."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Test models are tiny: one thread avoids thread start-up cost and contention on 2-core machines.
torch.set_num_threads(1)

from m2pt_core import create_model  # noqa: E402
from m2pt_core.modalities import MODALITIES, default_spec  # noqa: E402


def tiny_input(modality: str, batch: int = 3, seed: int = 0) -> torch.Tensor:
    """A random batch in the default input shape of a modality."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *default_spec(modality).input_shape, generator=g)


@pytest.fixture(params=MODALITIES)
def modality(request) -> str:
    return request.param


@pytest.fixture
def tiny_pair():
    """(target, aux) test-size models of different modalities, seeded."""
    torch.manual_seed(0)
    return create_model("test", "image", 10), create_model("test", "audio", 7)
