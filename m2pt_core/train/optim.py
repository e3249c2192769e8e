"""AdamW with three parameter groups, and the warmup + cosine schedule (a pure function of the step,
so resuming needs only the step count)."""
from __future__ import annotations

import fnmatch
import math
from typing import Iterable

import torch
from torch import nn

from .config import TrainConfig

# For a model that does not declare its no-decay parameters (timm's ``no_weight_decay()``): the
# names timm's ViTs declare, at any depth.
FALLBACK_NO_DECAY = ("*pos_embed", "*cls_token")


def is_lambda(name: str) -> bool:
    return name == "lam" or name.endswith(".lam")


def declared_no_decay(model: nn.Module) -> tuple[str, ...]:
    """The model's ``no_weight_decay()`` names (fnmatch patterns), or FALLBACK_NO_DECAY."""
    declared = getattr(model, "no_weight_decay", None)
    return tuple(sorted(declared())) if callable(declared) else FALLBACK_NO_DECAY


def no_weight_decay(name: str, param: torch.Tensor, patterns: Iterable[str] = FALLBACK_NO_DECAY) -> bool:
    """λ, biases and tensors of one dimension or less (norm weights), and the names the model
    declares (``patterns``, see declared_no_decay) get no weight decay; the rule of timm's
    param_groups_weight_decay."""
    return param.ndim <= 1 or name.endswith(".bias") or is_lambda(name) or \
        any(fnmatch.fnmatchcase(name, p) for p in patterns)


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """[decay, no_decay, lambda] groups (empty ones dropped), each with a ``name`` and ``base_lr``."""
    groups = {"decay": [], "no_decay": [], "lambda": []}
    exempt = declared_no_decay(model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        name = name.removeprefix("module.")  # DDP wrapper
        key = "lambda" if is_lambda(name) else "no_decay" if no_weight_decay(name, p, exempt) else "decay"
        groups[key].append(p)
    spec = {"decay": (config.lr, config.weight_decay), "no_decay": (config.lr, 0.0),
            "lambda": (config.lr * config.lambda_lr_scale, 0.0)}
    return [{"name": k, "params": ps, "lr": spec[k][0], "base_lr": spec[k][0], "weight_decay": spec[k][1]}
            for k, ps in groups.items() if ps]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, config), lr=config.lr, betas=(0.9, 0.999))


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the base lr at ``step`` (0-based): linear warmup to 1, cosine to min_ratio."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * factor
