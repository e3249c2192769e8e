"""Run folders: named by the run's identity hash, claimed by writing its spec (run.json)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from ..safe_io import atomic_write_text
from .identity import RunRequest, run_id

RUN_FILE = "run.json"
TEST_ITEMS_FILE = "test_items.json"


def run_dir_of(req: RunRequest, spec: dict[str, Any]) -> Path:
    """The run's folder: its name prefix, seed and the hash of its spec (``request_spec``)."""
    return Path(req.out_dir) / f"{req.name}-seed{req.seed}-{run_id(spec)}".replace("/", "_")


def tensorboard_dir(root: Optional[str], run_dir: Path) -> Optional[str]:
    """One TensorBoard subfolder per run (named as its run folder: arm, seed, run id), so the runs
    of an experiment or ablation are separate curves in one ``--tensorboard DIR``."""
    return str(Path(root) / run_dir.name) if root else None


def _claim_run_dir(run_dir: Path, spec: dict[str, Any]) -> None:
    """Write the run's spec; a folder holding another spec is never reused as this run."""
    f = run_dir / RUN_FILE
    if f.is_file():
        if json.loads(f.read_text()) != spec:
            raise RuntimeError(f"{run_dir} holds a run with another recipe; refusing to reuse it.")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f, json.dumps(spec, indent=1, sort_keys=True))
