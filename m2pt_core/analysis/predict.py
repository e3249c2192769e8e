"""Top-k predictions for one sample (the dashboard's "try a sample")."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pandas as pd
import torch
from torch import nn

from .data import class_names_of, expected_input_ndim
from .stages import eval_mode, model_device

TOPK_COLUMNS = ["model", "rank", "class_index", "class", "prob"]


def predict_topk(model: nn.Module, x: torch.Tensor, k: int = 5, class_names: Optional[Sequence[str]] = None,
                 name: str = "model") -> pd.DataFrame:
    """The k most probable classes for one input x (its model input shape, with or without a batch
    dimension of 1): columns model, rank (1 = best), class_index, class, prob (softmax, fraction)."""
    x = torch.as_tensor(x)
    ndim = expected_input_ndim(model)
    if ndim is not None and x.ndim not in (ndim, ndim + 1):
        raise ValueError(f"Expected one sample with {ndim} dimensions (or a batch of 1); got shape {tuple(x.shape)}.")
    # Without a known sample shape, x is taken to be one unbatched sample.
    batch = x if ndim is not None and x.ndim == ndim + 1 else x.unsqueeze(0)
    with eval_mode(model), torch.inference_mode():
        try:
            logits = model(batch.to(model_device(model)))
        except RuntimeError as e:
            raise ValueError(f"The model could not take an input of shape {tuple(x.shape)}: {e}") from e
    if logits.shape[0] != 1:
        raise ValueError(f"predict_topk takes one sample; got a batch of {logits.shape[0]}.")
    probs = logits[0].float().softmax(dim=-1).cpu()                        # (C,)
    names = class_names_of(None, class_names, probs.numel(), model)
    top = probs.topk(min(k, probs.numel()))
    rows = [{"model": name, "rank": r + 1, "class_index": int(i), "class": names[int(i)], "prob": float(p)}
            for r, (p, i) in enumerate(zip(top.values, top.indices))]
    return pd.DataFrame(rows, columns=TOPK_COLUMNS)


def compare_topk(models: Mapping[str, nn.Module], x: torch.Tensor, k: int = 5,
                 class_names: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """predict_topk of several models (e.g. {"baseline": m0, "M2PT": m1}) stacked, column "model"."""
    return pd.concat([predict_topk(m, x, k, class_names, name=n) for n, m in models.items()], ignore_index=True)
