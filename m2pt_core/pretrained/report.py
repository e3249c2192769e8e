"""LoadReport: what happened to every key when pretrained weights became a target model.

Each of the target's state-dict keys is either *loaded* (copied as is), *reshaped* (resampled,
transposed, folded, channel-adapted: ``how`` says which), or *left at init* (with the reason);
each key of the checkpoint that was not used is *skipped* (with the reason). Nothing is left
random without the report saying so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd

REPORT_COLUMNS = ["key", "status", "source", "detail"]


@dataclass
class LoadReport:
    source: str
    layout: str                                            # e.g. "timm", "mae", "videomae"
    loaded: dict[str, str] = field(default_factory=dict)   # our key → checkpoint key
    reshaped: dict[str, tuple[str, str]] = field(default_factory=dict)  # our key → (checkpoint key, how)
    left_at_init: dict[str, str] = field(default_factory=dict)          # our key → why
    skipped: dict[str, str] = field(default_factory=dict)               # checkpoint key → why
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)                # the target's ModelConfig as a dict

    def table(self) -> pd.DataFrame:
        """One row per key: key, status (loaded / reshaped / left at init / skipped), source, detail."""
        rows = [(k, "loaded", src, "") for k, src in self.loaded.items()]
        rows += [(k, "reshaped", src, how) for k, (src, how) in self.reshaped.items()]
        rows += [(k, "left at init", "", why) for k, why in self.left_at_init.items()]
        rows += [(k, "skipped", k, why) for k, why in self.skipped.items()]
        return pd.DataFrame(rows, columns=REPORT_COLUMNS)

    def counts(self) -> dict[str, int]:
        return {"loaded": len(self.loaded), "reshaped": len(self.reshaped),
                "left at init": len(self.left_at_init), "skipped": len(self.skipped)}

    def status(self, key: str) -> Optional[str]:
        for name, d in (("loaded", self.loaded), ("reshaped", self.reshaped), ("left at init", self.left_at_init)):
            if key in d:
                return name
        return "skipped" if key in self.skipped else None

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form (stored in checkpoints as the target's provenance)."""
        return {"source": self.source, "layout": self.layout, "counts": self.counts(),
                "reshaped": {k: how for k, (_, how) in self.reshaped.items()},
                "left_at_init": dict(self.left_at_init), "notes": list(self.notes)}

    def __str__(self) -> str:
        c = self.counts()
        lines = [f"Loaded {self.source} ({self.layout} layout) into a {self.config.get('modality')} target "
                 f"(width {self.config.get('embed_dim')}, depth {self.config.get('depth')}, heads "
                 f"{self.config.get('num_heads')}): {c['loaded']} loaded, {c['reshaped']} reshaped, "
                 f"{c['left at init']} left at init, {c['skipped']} checkpoint keys skipped."]
        lines += [f"  reshaped {k}: {how}" for k, (_, how) in self.reshaped.items()]
        lines += [f"  left at init {k}: {why}" for k, why in self.left_at_init.items()]
        reasons: dict[str, int] = {}
        for why in self.skipped.values():
            reasons[why] = reasons.get(why, 0) + 1
        lines += [f"  skipped {n} key(s): {why}" for why, n in reasons.items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
