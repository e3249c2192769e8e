"""Validation tensors for the explorer: a held-out subset per (dataset, input spec, size),
built once per process and shared read-only by every session."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..modalities import spec_to_dict

DEFAULT_MAX_EVAL = 500
# Hidden-state cache budget of one session's incremental evaluator ((L+1)·N·T·D fp32 floats).
STATE_BUDGET_BYTES = 96 * 2**20

_lock = threading.Lock()
_cache: dict[tuple, "EvalData"] = {}


@dataclass(frozen=True)
class EvalData:
    """A fixed evaluation subset: inputs (N, *input_shape), labels (N,), class names."""
    dataset: str
    split: str
    X: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    data_size: Optional[int]

    @property
    def key(self) -> tuple:
        return (self.dataset, self.split, len(self.y), self.data_size)

    def describe(self) -> str:
        return f"{len(self.y)} {self.split} samples of {self.dataset}"


def eval_limit(model: nn.Module, max_eval: int = DEFAULT_MAX_EVAL) -> int:
    """At most ``max_eval`` samples, fewer for long token sequences so the incremental
    evaluator's cached hidden states stay within STATE_BUDGET_BYTES."""
    config = getattr(model, "config", None)
    tokenizer = getattr(model, "tokenizer", None)
    if config is None or tokenizer is None:
        return max_eval
    per_sample = (config.depth + 1) * (tokenizer.num_tokens + 1) * config.embed_dim * 4
    return max(32, min(max_eval, STATE_BUDGET_BYTES // per_sample))


def eval_data(model: nn.Module, data_size: Optional[int] = None, max_eval: int = DEFAULT_MAX_EVAL,
              split: str = "val") -> Optional[EvalData]:
    """A class-stratified, seeded subset of ``eval_limit`` items of the ``split`` of the data the
    model was trained on (its recorded provenance, else its config's dataset), preprocessed with the
    model's own input spec; None if it names none. Items the model was trained on are refused
    (TrainOverlapError). Stratified, not the first n: a split may be ordered by class."""
    from ..data import eval_dataset, model_provenance, stratified_split
    config = getattr(model, "config", None)
    prov = model_provenance(model)
    if prov is None:
        return None
    n = eval_limit(model, max_eval)
    key = (prov.to_json(), json.dumps(spec_to_dict(config.input), sort_keys=True), data_size, split, n)
    with _lock:
        if key not in _cache:
            ds = eval_dataset(model, split, size=data_size).data
            X, y = (ds if hasattr(ds, "tensors") else ds.to_memory()).tensors()   # files: decoded (cached) now
            if n < len(y):
                keep = torch.as_tensor(stratified_split(y.numpy(), (n, len(y) - n), seed=0)[0])
                X, y = X[keep], y[keep]
            _cache[key] = EvalData(prov.name, split, X.contiguous(), y.contiguous(),
                                   tuple(ds.classes), data_size)
        return _cache[key]
