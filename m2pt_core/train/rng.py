"""Random state owned by one run, so runs sharing a process (two dashboard jobs in two threads)
never draw from each other's.

Shuffling uses a torch.Generator of its own (batches.py). Model initialisation and dropout /
drop-path draw from torch's process-wide generator, which cannot be handed a generator; a run
takes that generator only inside ``seeded``: under a process-wide lock, forked (saved, seeded for
this run, restored on exit). Code outside ``seeded`` sees the global state untouched."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import nn

# Re-entrant: a run may seed its init inside a block that already holds the lock.
_GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int, device: Optional[torch.device] = None) -> Iterator[None]:
    """Run the block on torch's global generator seeded with ``seed`` (and that of ``device`` if it
    is a GPU), with no other run drawing from it meanwhile; the previous state comes back on exit."""
    cuda = device is not None and device.type == "cuda"
    index = (device.index if device.index is not None else torch.cuda.current_device()) if cuda else None
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[index] if cuda else []):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def draws_random(model: nn.Module) -> bool:
    """True when the model's training forward draws random numbers (dropout or drop-path > 0):
    asked of a model that declares it (MultimodalViT.draws_random), else read off its modules."""
    declared = getattr(model, "draws_random", None)
    if callable(declared):
        return bool(declared())
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            return True
        if float(getattr(m, "drop_prob", 0.0) or 0.0) > 0:   # timm DropPath
            return True
    return False
