"""What the Models panel says about a model: its card (every accuracy with its split, n and
interval) and a one-line summary of an uploaded checkpoint."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..analysis.intervals import wilson_interval
from ..errors import CheckpointError, M2PTError
from ..pretrained import describe_weights


def _accuracy_cell(acc: Optional[float], split: str, n: Optional[int]) -> Optional[str]:
    """'84.27% (95% CI 81.5–86.6%) · test split, 750 items' (no interval when n is unknown)."""
    if acc is None:
        return None
    if not n:
        return f"{100 * acc:.2f}% · {split} split (number of items not recorded)"
    w = wilson_interval(int(round(acc * n)), int(n))
    return f"{100 * acc:.2f}% ({100 * w.level:.0f}% CI {100 * w.lo:.1f}–{100 * w.hi:.1f}%) · {split} split, {n} items"


@dataclass
class ModelCard:
    """What the Models panel shows about one model: every accuracy with its split, n and interval."""
    name: str
    kind: str                        # "zoo", "file", "trained", "text encoder"
    modality: Optional[str] = None
    dataset: Optional[str] = None
    size: Optional[str] = None
    auxiliary: Optional[str] = None
    accuracy: Optional[float] = None           # on the test split
    params: Optional[int] = None
    data_size: Optional[int] = None
    extra: dict[str, Any] = field(default_factory=dict)
    test_items: Optional[int] = None
    val_accuracy: Optional[float] = None
    val_items: Optional[int] = None
    classes: Optional[list[str]] = None

    def as_markdown(self) -> str:
        classes = chance = None
        if self.classes:
            k = len(self.classes)
            shown = ", ".join(self.classes[:12]) + (", …" if k > 12 else "")
            classes, chance = f"{k}: {shown}", f"{100 / k:.1f}% (1 of {k} classes)"
        rows = [("kind", self.kind), ("modality", self.modality), ("dataset", self.dataset),
                ("classes", classes), ("chance level", chance),
                ("size", self.size), ("auxiliary", self.auxiliary or "none"),
                ("test accuracy", _accuracy_cell(self.accuracy, "test", self.test_items)),
                ("validation accuracy", _accuracy_cell(self.val_accuracy, "validation", self.val_items)),
                ("parameters", f"{self.params:,}" if self.params else None)]
        rows += [(k, v) for k, v in self.extra.items()]
        body = "\n".join(f"| {k} | {v} |" for k, v in rows if v not in (None, ""))
        return f"**{self.name}**\n\n| | |\n|---|---|\n{body}\n"


def checkpoint_summary(path: Union[str, Path]) -> str:
    """One line about an uploaded checkpoint, or a CheckpointError saying what is wrong."""
    from ..checkpoint import read_metadata
    try:
        meta = read_metadata(path)
    except M2PTError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt upload can fail in many ways
        raise CheckpointError(f"{Path(path).name} is not a readable checkpoint: {e}") from None
    config = meta.get("config")
    if isinstance(config, str):
        config = json.loads(config)
    if isinstance(config, dict):
        return (f"{Path(path).name}: {config.get('modality')} model, size {config.get('size')}, "
                f"{config.get('num_classes')} classes, dataset {config.get('dataset')}")
    return describe_weights(path)
