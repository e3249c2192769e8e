"""Item overlap by content: the same input tensor counts as the same item, whatever its name."""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

import torch


def content_digests(data: Any) -> list[str]:
    """sha1 of each item's preprocessed input tensor (its float32 bytes), in item order."""
    X = data.tensors()[0] if hasattr(data, "tensors") else data                # (N, *input_shape)
    X = torch.as_tensor(X).detach().to(torch.float32).contiguous()
    return [hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in X]


def content_overlap(a: Any, b: Iterable[Any]) -> int:
    """How many items of the datasets ``b`` have the same content as some item of ``a``."""
    seen = set(content_digests(a))
    return sum(d in seen for other in b for d in content_digests(other))
