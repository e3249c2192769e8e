"""Accuracy per class, for one model or for two side by side (baseline vs M2PT)."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pandas as pd
import torch
from torch import nn

from ..scores import item_correct
from .data import as_tensors, class_names_of
from .evaluate import DEFAULT_BATCH_SIZE, predict_logits

PER_CLASS_COLUMNS = ["model", "class_index", "class", "n", "correct", "acc"]


def per_class_accuracy(model: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                       class_names: Optional[Sequence[str]] = None, name: str = "model",
                       batch_size: int = DEFAULT_BATCH_SIZE) -> pd.DataFrame:
    """One row per class: model (= name), class_index, class, n (samples), correct, acc (fraction;
    NaN for a class without samples). Class names default to the dataset's ``.classes``."""
    data = X
    X, y = as_tensors(X, y)
    logits = predict_logits(model, X, batch_size)                          # (N, C)
    C = logits.shape[1]
    names = class_names_of(data, class_names, C, model)
    hit = item_correct(logits, y).long()                                    # (N,)
    n = torch.bincount(y, minlength=C)[:C]
    correct = torch.bincount(y, weights=hit.double(), minlength=C)[:C]
    rows = [{"model": name, "class_index": c, "class": names[c], "n": int(n[c]), "correct": int(correct[c]),
             "acc": float(correct[c] / n[c]) if n[c] > 0 else float("nan")} for c in range(C)]
    return pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)


def compare_per_class(model_a: nn.Module, model_b: nn.Module, X: Any, y: Optional[torch.Tensor] = None,
                      names: Sequence[str] = ("baseline", "M2PT"), class_names: Optional[Sequence[str]] = None,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> pd.DataFrame:
    """Both models' per_class_accuracy stacked (long format, column "model" = names)."""
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different labels, got {names!r}.")
    frames = [per_class_accuracy(m, X, y, class_names, name=nm, batch_size=batch_size)
              for m, nm in zip((model_a, model_b), names)]
    return pd.concat(frames, ignore_index=True)


def per_class_delta(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view of compare_per_class: one row per class, one acc column per model, and delta
    (second model − first)."""
    models = list(dict.fromkeys(table["model"]))
    wide = table.pivot(index=["class_index", "class"], columns="model", values="acc")[models].reset_index()
    wide.columns.name = None
    if len(models) == 2:
        wide["delta"] = wide[models[1]] - wide[models[0]]
    return wide
