"""Evaluation tensors for the explorer, per (dataset, input spec, size, split), built once per
process and shared read-only by every session.

The dashboard scores on the validation split: all of it when a slider move over it stays within
the latency budget, else a fixed class-stratified subset (EvalData.describe() says which, and n).
The test split is used only on request, whole."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..byte_cache import SharedCache
from ..modalities import spec_to_dict

DEFAULT_MAX_EVAL = 750     # the whole validation split of mnist5k, when the latency budget allows
# Hidden-state cache budget of one session's incremental evaluator ((L+1)·N·T·D fp32 floats).
STATE_BUDGET_BYTES = 96 * 2**20
# Latency budget of a worst-case slider move (λ of block 0: every block re-runs), as items × blocks ×
# tokens × width²: 750 mnist5k items through the demo size (6 blocks, 17 tokens, width 192). Measured
# (benchmarks/slider_latency.py, m2pt-mnist5k-audio, 750 items, 1 thread): 0.87 s of CPU per move
# on the shared 2-core machine, so < 1 s per move on 2 cores; 500 items: 0.56 s.
SLIDER_BUDGET = 750 * 6 * 17 * 192 ** 2

EVAL_DATA_BYTES = 256 * 2**20   # cap of the cache used when no (dashboard) cache is passed
_lock = threading.Lock()
_cache = SharedCache(EVAL_DATA_BYTES)


SPLIT_NAMES = {"val": "validation", "test": "test", "train": "training"}


@dataclass(frozen=True)
class EvalData:
    """A fixed evaluation set: inputs (N, *input_shape), labels (N,), class names; ``total`` is the
    size of the whole split it was taken from."""
    dataset: str
    split: str
    X: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    data_size: Optional[int]
    total: Optional[int] = None
    data_seed: int = 0               # the seed the data was generated / split with
    spec: str = ""                   # the input spec it was preprocessed with (JSON)

    @property
    def key(self) -> tuple:
        """What identifies these items (cached states and baseline logits are keyed by it): two
        models of one dataset trained on other seeds or input specs see other items."""
        return (self.dataset, self.split, len(self.y), self.data_size, self.data_seed, self.spec)

    @property
    def split_name(self) -> str:
        return SPLIT_NAMES.get(self.split, self.split)

    @property
    def is_subset(self) -> bool:
        return self.total is not None and len(self.y) < self.total

    def describe(self) -> str:
        """'all 750 validation items of mnist5k', or 'a fixed class-stratified subset of 500 of
        the 750 validation items of mnist5k'."""
        if self.is_subset:
            return (f"a fixed class-stratified subset of {len(self.y)} of the {self.total} {self.split_name} "
                    f"items of {dataset_label(self.dataset)}")
        return f"all {len(self.y)} {self.split_name} items of {dataset_label(self.dataset)}"


def dataset_label(name: str) -> str:
    """A dataset as the page names it: a built-in name, or the last part of the user's folder /
    manifest / archive path (the page never shows where the server keeps files)."""
    from pathlib import Path
    from ..data.sources import is_builtin
    return name if is_builtin(name) else Path(name).name


def measure_slider_budget(seconds: float = 1.0, items: int = 64, threads: Optional[int] = None) -> int:
    """The slider budget (items × blocks × tokens × width², as SLIDER_BUDGET) that a worst-case λ
    move fits in ``seconds`` on *this* machine as it is loaded now: a demo-size model (6 blocks,
    17 tokens, width 192) is timed over ``items`` items, all blocks, the faster of two runs.
    The server calls it at start-up, so the page's rule (the whole split only when a move over it
    fits the budget) holds where it serves."""
    import time
    from ..model import create_model
    from ..train.rng import seeded
    with seeded(0):
        model = create_model("demo", "image", 10).eval()
        x = torch.randn(items, *model.config.input.input_shape)              # (items, C, H, W)
    times = []
    with torch.inference_mode():
        for _ in range(3):                                                    # the first one warms up
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    per_item = min(times[1:]) / items
    config = model.config
    return int(seconds / per_item * config.depth * (model.tokenizer.num_tokens + 1) * config.embed_dim ** 2)


MIN_EVAL = 32     # fewer items than this only when --max-eval or the cache cap asks for it


def eval_limit(model: nn.Module, max_eval: int = DEFAULT_MAX_EVAL, slider_budget: int = SLIDER_BUDGET,
               cache_bytes: Optional[int] = None) -> int:
    """At most ``max_eval`` samples, fewer for long token sequences or wide/deep models so that the
    incremental evaluator's cached hidden states stay within STATE_BUDGET_BYTES and a slider move
    within ``slider_budget`` (SLIDER_BUDGET: < 1 s on 2 cores; the server measures its own with
    measure_slider_budget), but not below MIN_EVAL. ``cache_bytes`` (the dashboard's --cache-mb) caps
    it down to MIN_EVAL items (a smaller cache stores nothing and the evaluator recomputes): the states of the learned λ plus one session's own states, 2 × (depth + 1) × tokens ×
    width fp32 per item, must fit in it (ViT-B/16: 15.7 MB per item, so 32 items in 512 MB)."""
    config = getattr(model, "config", None)
    tokenizer = getattr(model, "tokenizer", None)
    if config is None or tokenizer is None:
        return max_eval
    per_sample = (config.depth + 1) * (tokenizer.num_tokens + 1) * config.embed_dim * 4
    per_move = config.depth * (tokenizer.num_tokens + 1) * config.embed_dim ** 2
    n = min(max_eval, max(MIN_EVAL, min(STATE_BUDGET_BYTES // per_sample, slider_budget // per_move)))
    if cache_bytes is not None:      # a cache too small for even MIN_EVAL items recomputes instead of shrinking the set
        n = min(n, max(min(MIN_EVAL, max_eval), cache_bytes // (2 * per_sample)))
    return max(1, n)


def _file_subset(ds, idx: list[int]):
    """A FileDataset of the items ``idx`` of ``ds`` (a shallow copy; ``ds`` is unchanged): so
    that a ViT-B split of thousands of 224 px images is never decoded into memory whole."""
    import copy
    sub = copy.copy(ds)
    sub._keep(idx)          # rebinds rels / digests / labels (new lists), the copy's own
    return sub


def eval_data(model: nn.Module, data_size: Optional[int] = None, max_eval: Optional[int] = DEFAULT_MAX_EVAL,
              split: str = "val", cache: Optional[SharedCache] = None,
              slider_budget: int = SLIDER_BUDGET) -> Optional[EvalData]:
    """The ``split`` of the data the model was trained on (its recorded provenance, else its
    config's dataset), preprocessed with the model's own input spec: all of it, or a class-stratified,
    seeded subset of ``eval_limit`` items when the split is larger; None if it names none. Items the
    model was trained on are refused (TrainOverlapError). Stratified, not the first n: a split may be
    ordered by class. max_eval=None: the whole split (no incremental cache). Kept in ``cache`` (the
    dashboard's shared one) or this module's, both capped in bytes."""
    from ..data import eval_dataset, model_provenance, stratified_split
    config = getattr(model, "config", None)
    prov = model_provenance(model)
    if prov is None:
        return None
    n = (eval_limit(model, max_eval, slider_budget, cache.budget if cache is not None else None)
         if max_eval is not None else None)
    spec = json.dumps(spec_to_dict(config.input), sort_keys=True)
    key = ("eval-data", prov.to_json(), spec, data_size, split, n)
    cache = cache if cache is not None else _cache
    with _lock:
        found = cache.get(key)
        if found is not None:
            return found
        ds = eval_dataset(model, split, size=data_size).data
        if not hasattr(ds, "tensors"):          # files: only the subset is decoded into memory
            ds.prepare()                         # (unreadable files dropped first, so the subset is fixed)
        total = len(ds)
        keep = (torch.as_tensor(stratified_split(ds.y.numpy(), (n, total - n), seed=0)[0])
                if n is not None and n < total else None)
        if not hasattr(ds, "tensors"):
            ds = _file_subset(ds, keep.tolist()).to_memory() if keep is not None else ds.to_memory()
            keep = None
        X, y = ds.tensors()
        if keep is not None:
            X, y = X[keep], y[keep]
        data = EvalData(prov.name, split, X.contiguous(), y.contiguous(), tuple(ds.classes), data_size, total,
                        prov.seed, spec)
        return cache.put(key, data, required=False)
