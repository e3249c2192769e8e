"""The one incremental engine: re-run the blocks from the first changed layer.

A λ change in block k leaves the hidden states entering blocks 0..k as they were, so a new score
needs only blocks k..L-1 and the head. ``rerun`` does exactly that, chunk by chunk; *where* the
states live is the caller's cache, passed in as two functions:

    entering(chunk) → (B, T, D)        the states entering block ``start`` for that chunk
    keep(chunk, b, h)                  h: the states entering block b (start < b ≤ L), to store or drop

    per chunk c:  h = entering(c);  for b in start..L-1: h = block_b(h); keep(c, b + 1, h)
                  logits_c = finish(h)                                        # (B, C)

Its three users differ only in their cache: IncrementalEvaluator (the last evaluation's states
in a list), run_probes (no cache: probes branch off the base run inside ``keep``) and the
dashboard's SharedEvaluator (a process-wide cache shared between sessions). Run it in eval and
inference mode (``stages.eval_mode``).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch

from ..pathways import split_name
from .stages import Stages

Entering = Callable[[int], torch.Tensor]                    # chunk → states entering block start
Keep = Callable[[int, int, torch.Tensor], None]             # (chunk, block b, states entering b)


def first_changed_block(now: Mapping[str, float], before: Mapping[str, float], depth: int) -> int:
    """First block holding a pathway whose λ in ``now`` differs from ``before`` (a name missing
    from ``before`` counts as changed); ``depth`` when nothing changed."""
    return min((split_name(n)[0] for n, v in now.items() if before.get(n) != v), default=depth)


def rerun(stages: Stages, n_chunks: int, start: int, entering: Entering,
          keep: Optional[Keep] = None) -> list[torch.Tensor]:
    """Logits (B, C) fp32 of every chunk, running blocks ``start``..L-1 and the head on the
    states ``entering`` gives; every new state goes to ``keep`` (see module doc)."""
    logits = []
    for c in range(n_chunks):
        h = entering(c)                                               # (B, T, D)
        for b in range(start, stages.depth):
            h = stages.step(h, b)                                     # (B, T, D); last maybe (B, 1, D)
            if keep is not None:
                keep(c, b + 1, h)
        logits.append(stages.finish(h).float())                       # (B, C)
    return logits
