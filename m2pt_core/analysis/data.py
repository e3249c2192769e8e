"""Accept evaluation data as tensors or as a dataset with ``.tensors()``."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch


def as_tensors(X: Any, y: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (N, ...), labels (N,) int64) from tensors or from a dataset with ``.tensors()``."""
    if y is None:
        if not hasattr(X, "tensors"):
            raise TypeError(f"Give labels y with the inputs, or a dataset with a .tensors() method; "
                            f"got a {type(X).__name__} and no labels.")
        X, y = X.tensors()
    X, y = torch.as_tensor(X), torch.as_tensor(y).long()
    if y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"Expected inputs (N, ...) and labels (N,); got {tuple(X.shape)} and {tuple(y.shape)}.")
    if len(y) == 0:
        raise ValueError("The evaluation set is empty.")
    return X, y


def class_names_of(X: Any, class_names: Optional[Sequence[str]], num_classes: int,
                   model: Any = None) -> list[str]:
    """Names given, else the dataset's ``.classes``, else the model config's ``class_names``,
    else "0", "1", …"""
    if class_names is None:
        class_names = getattr(X, "classes", None)
    if class_names is None:
        class_names = getattr(getattr(model, "config", None), "class_names", None)
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(c) for c in class_names]
    if len(names) < num_classes:
        raise ValueError(f"{len(names)} class names given but the model has {num_classes} classes.")
    return names


def chunks(X: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device):
    """(inputs, labels) slices of at most ``batch_size`` samples, moved to ``device``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    for i in range(0, len(y), batch_size):
        yield X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)


def expected_input_ndim(model: Any) -> Optional[int]:
    """Dimensions of one sample the model takes (without batch), when the model says so."""
    spec = getattr(getattr(model, "config", None), "input", None)
    if spec is not None and hasattr(spec, "input_shape"):
        return len(spec.input_shape)
    cfg = getattr(model, "pretrained_cfg", None)     # timm models: input_size = (C, H, W)
    if isinstance(cfg, dict) and cfg.get("input_size"):
        return len(cfg["input_size"])
    return None
