"""Probes: the engine behind knockout maps and λ sweeps (the incremental engine of rerun.py).

A *probe* is one temporary λ setting (some pathways → new values). Changing λ in block k leaves
blocks 0..k-1 untouched, so the hidden states entering block k are computed once and every probe
that starts at block k runs only blocks k..L-1 + norm + head:

    per chunk of samples:
        h = embed(x)                                   # (B, T, D), entering block 0
        for k in 0..L-1:
            for each probe starting at k:              # under override_lambdas, restored after
                logits = blocks[k:](h) → finish        # (B, C)
            h = blocks[k](h)                           # advance the base run with the λ in force
        base = finish(h)

Cost per chunk: one embed + L blocks for the base, plus (L - k) blocks per probe at block k,
instead of embed + L blocks per probe; with a cls-token head the last block costs about a quarter
of a block (cls_tail.py). The base and every probe go through the same Stages, so each Δ compares
like with like (the shortcut equals the full block only within float rounding). Probes that change
nothing reuse the base result.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import torch
from torch import nn

from ..pathways import override_lambdas, pathway_modules
from .data import as_tensors, chunks
from .evaluate import DEFAULT_BATCH_SIZE, Score
from .rerun import first_changed_block, rerun
from .stages import eval_mode, model_device, model_stages


@dataclass(frozen=True)
class Probe:
    key: Hashable                      # how the caller finds this probe's result
    values: Mapping[str, float]        # pathway module name → λ to use


def _fp32(v: float) -> float:
    return float(torch.tensor(float(v), dtype=torch.float32))


def probe_start(values: Mapping[str, float]) -> int:
    """First block whose λ the probe changes (every named pathway counts as changed)."""
    return first_changed_block(values, {}, depth=-1)


Progress = Callable[[float], None]


def run_probes(model: nn.Module, X: Any, y: Optional[torch.Tensor], probes: Sequence[Probe],
               batch_size: int = DEFAULT_BATCH_SIZE, progress: Optional[Progress] = None
               ) -> tuple[Score, dict[Hashable, Score]]:
    """Score of the model as it is, and of every probe, over the whole set (see module doc).

    ``progress(fraction)`` is called after every probe and block of every chunk with the fraction
    of the blocks to run that have run (a knockout at ViT-B runs for minutes); an exception it raises (a
    Stop) ends the run, with every λ restored."""
    X, y = as_tensors(X, y)
    stages = model_stages(model)
    mods = pathway_modules(model)
    current = {n: m.lam_value for n, m in mods.items()}
    results: dict[Hashable, Score] = {}
    by_start: dict[int, list[Probe]] = defaultdict(list)
    no_ops: list[Probe] = []
    for p in probes:
        unknown = [n for n in p.values if n not in mods]
        if unknown:
            raise KeyError(f"No pathway named {unknown[0]!r}; the model has {len(mods)} pathways.")
        if p.key in results:
            raise ValueError(f"Two probes share the key {p.key!r}.")
        results[p.key] = Score(keep_items=True)     # per-item results: paired intervals later
        # λ is stored in fp32, so compare in fp32: a value that rounds to the current λ is no change.
        if all(_fp32(v) == current[n] for n, v in p.values.items()):
            no_ops.append(p)   # identical to the model as it is: take the base score, run nothing
        else:
            by_start[probe_start(p.values)].append(p)

    def tick(items: int) -> None:
        nonlocal done
        if progress is not None:
            done += items
            progress(done / total)

    def branch(k: int, h: torch.Tensor, yb: torch.Tensor) -> None:
        """The base run reached block k with states h (B, T, D): every probe starting there branches off."""
        for p in by_start.get(k, ()):
            with override_lambdas(model, dict(p.values)):
                results[p.key].add(rerun(stages, 1, k, lambda _: h)[0], yb)
            tick(len(yb) * (stages.depth - k))
        if k > 0:
            tick(len(yb))                                          # the base run's block k - 1

    base = Score(keep_items=True)
    # Blocks run per item: the base pass, plus depth - k for every probe starting at block k.
    per_item = stages.depth + sum((stages.depth - k) * len(ps) for k, ps in by_start.items())
    total, done = per_item * len(y), 0
    if progress is not None:
        progress(0.0)
    with eval_mode(model), torch.inference_mode():
        for xb, yb in chunks(X, y, batch_size, model_device(model)):
            h0 = stages.embed(xb)                                         # (B, T, D), entering block 0
            branch(0, h0, yb)
            # The base run is the engine's with no cache: each state entering block k goes to branch.
            base.add(rerun(stages, 1, 0, lambda _: h0, lambda _, k, h: branch(k, h, yb))[0], yb)
    for p in no_ops:
        results[p.key] = replace(base)             # base is complete; its item lists are shared
    return base, results
