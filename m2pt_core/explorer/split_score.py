"""A whole split scored on request (the validation split behind the λ slider's fixed subset, or the
test split), streamed in chunks with progress, ETA and Stop (jobs.JobProgress).

Streamed, not materialised: a ViT-B input is 3 × 224 × 224 floats (0.6 MB), so a 10,000-item split
would be 6 GB as one tensor; here at most one chunk of inputs is in memory, and only the logits
(N, C) of each model are kept. Each model is run over the same items, so every Δ is paired."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..analysis.intervals import accuracy_interval, paired_comparison
from ..analysis.stages import eval_mode, model_device
from ..pathways import override_lambdas
from .data import SPLIT_NAMES, dataset_label
from .jobs import JobProgress, stoppable_batch
from .scoring import Items, item_results

CHUNK = 32     # items decoded and run at once at most (fewer for long token sequences: jobs.stoppable_batch)


def _batches(ds: Any, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs (B, ...), labels (B,)) of an in-memory dataset (``.tensors()``) or a file dataset
    (items decoded one chunk at a time; unreadable files are left out, as in training)."""
    if hasattr(ds, "tensors"):
        X, y = ds.tensors()
        for i in range(0, len(y), size):
            yield X[i:i + size], y[i:i + size]
        return
    from ..data.lazy import collate_skip
    for i in range(0, len(ds), size):
        xb, yb = collate_skip([ds[j] for j in range(i, min(i + size, len(ds)))])
        if len(yb):
            yield xb, yb


def score_split(models: dict[str, tuple[nn.Module, Optional[dict[str, float]]]], ds: Any,
                progress: Optional[JobProgress] = None, chunk: int = CHUNK) -> tuple[dict[str, Items], int]:
    """Per-item results of each named model (with its λ override, or None) over ``ds``: ({name:
    (correct (N,), loss (N,))}, N). ``progress`` gets the fraction of model × item passes done."""
    n_total = len(ds)
    logits: dict[str, list[torch.Tensor]] = {k: [] for k in models}
    labels: list[torch.Tensor] = []
    done = 0
    if progress is not None:
        progress(0.0)
    for xb, yb in _batches(ds, chunk):
        labels.append(yb)
        for name, (model, lams) in models.items():
            with eval_mode(model), torch.inference_mode(), (override_lambdas(model, lams) if lams else nullcontext()):
                logits[name].append(model(xb.to(model_device(model))).float().cpu())
            done += len(yb)
            if progress is not None:
                progress(done / (len(models) * max(n_total, 1)))
    if not labels:
        raise ValueError("No item of this split could be read.")
    y = torch.cat(labels)
    return {k: item_results(torch.cat(v), y) for k, v in logits.items()}, len(y)


def split_report(model: nn.Module, baseline: Optional[nn.Module], baseline_name: Optional[str],
                 data_size: Optional[int], split: str = "val", learned: Optional[dict[str, float]] = None,
                 progress: Optional[JobProgress] = None) -> str:
    """Markdown: the model with λ as set now on the whole ``split``, against λ as learned (when
    ``learned`` differs from the λ in force) and against the baseline, paired on the same items."""
    from ..data import eval_dataset, model_provenance
    from ..pathways import get_lambdas
    if model_provenance(model) is None:
        return f"This model names no dataset, so there is no {SPLIT_NAMES.get(split, split)} split to score on."
    choice = eval_dataset(model, split, size=data_size)
    models: dict[str, tuple[nn.Module, Optional[dict[str, float]]]] = {"now": (model, None)}
    if learned and learned != get_lambdas(model):
        models["learned"] = (model, dict(learned))
    if baseline is not None:
        models["baseline"] = (baseline, None)
    items, n = score_split(models, choice.data, progress, chunk=stoppable_batch(model, CHUNK))
    name = SPLIT_NAMES.get(split, split)
    source = dataset_label(choice.provenance.name if choice.provenance is not None else getattr(choice.data, "name", "?"))
    acc = accuracy_interval(items["now"][0])
    head = "**TEST split, on request**" if split == "test" else f"**Whole {name} split, on request**"
    lines = [f"{head} (all {n} {name} items of {source}): λ as set now {100 * acc.estimate:.2f}% "
             f"({100 * acc.level:.0f}% CI {100 * acc.lo:.1f}–{100 * acc.hi:.1f}%)."]
    for key, label, runs in (("learned", "λ as learned", "same model"),
                             ("baseline", f"Baseline {baseline_name}", "one training run each")):
        if key in items:
            ref, now = items[key], items["now"]
            cmp = paired_comparison(ref[0], now[0], ref[1], now[1])
            lines.append(f"{label}: {100 * float(np.mean(ref[0])):.2f}%; {cmp.describe('Δ')} ({runs}).")
    if split == "test":
        lines.append("<small>Do not tune λ on these numbers: the test split then stops being a test.</small>")
    return "  \n".join(lines)
