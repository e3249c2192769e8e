"""Parameter counts in PEFT's format."""
from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts; frozen W' buffers are not parameters."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def trainable_parameter_report(model: nn.Module) -> str:
    trainable, total = count_parameters(model)
    pct = 100 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {pct:.4f}"


def print_trainable_parameters(model: nn.Module) -> None:
    print(trainable_parameter_report(model))
