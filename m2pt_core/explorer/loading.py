"""Reading models and auxiliary weights for the explorer: read-only, frozen, in eval mode."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from torch import nn

from ..checkpoint import load_checkpoint
from ..errors import CheckpointError
from ..pathways import load_aux
from ..pathways.aux_weights import AuxWeights


def read_model(path: Path) -> nn.Module:
    """A checkpoint as a frozen model in eval mode (shared read-only between sessions)."""
    model = load_checkpoint(path, device="cpu")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def read_aux(name: str, source: Any, zoo_entry: Optional[dict] = None) -> AuxWeights:
    """Auxiliary weights from ``source`` (a path or a named encoder); a zoo entry names its source
    and modality. Unreadable files raise CheckpointError with the file's name only."""
    try:
        aux = load_aux(source)
    except (OSError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"Cannot read auxiliary {Path(str(name)).name!r}: {e}") from None
    if zoo_entry is not None:
        aux.source = name
        aux.modality = aux.modality or zoo_entry.get("modality")
    return aux
