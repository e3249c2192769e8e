"""The per-run JSONL log: one JSON object per finished epoch (appended, flushed at once)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

from ..safe_io import read_jsonl


class JsonlLog:
    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)

    def truncate_after(self, epoch: int) -> None:
        """Keep records of epochs < ``epoch`` (a resumed run rewrites what came after its checkpoint);
        an event record (a recipe change) counts as part of its ``from_epoch``."""
        if not self.path.exists():
            return
        kept = [r for r in read_jsonl(self.path) if r.get("epoch", r.get("from_epoch", 0)) < epoch]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

