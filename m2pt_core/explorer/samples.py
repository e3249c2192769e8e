"""Bundled sample files (assets/samples/index.json) and the display of any input."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import plotly.graph_objects as go
import torch

from ..assets import asset_dir
from ..figures_inputs import input_figure


def samples_dir() -> Path:
    """assets/samples, found as assets.py says (AssetsNotFoundError if nowhere)."""
    return asset_dir("samples")


@dataclass(frozen=True)
class Sample:
    name: str          # what the UI lists, e.g. "audio · chirp (class: chirp)"
    path: Path
    modality: Optional[str]
    label: Optional[str]


def _entries(data: Any) -> list[dict]:
    if isinstance(data, dict):
        for key in ("samples", "files", "items"):
            if isinstance(data.get(key), list):
                return data[key]
        # {"file name": {...}} or {"modality": [...]}
        out = []
        for k, v in data.items():
            if isinstance(v, dict):
                out.append({"file": k, **v})
            elif isinstance(v, list):
                out += [{"modality": k, **e} if isinstance(e, dict) else {"modality": k, "file": e} for e in v]
        return out
    return [e if isinstance(e, dict) else {"file": e} for e in data] if isinstance(data, list) else []


def bundled_samples(root: Optional[Union[str, Path]] = None) -> list[Sample]:
    """Samples listed in ``root``/index.json whose files exist (empty when there is no index)."""
    root = Path(root) if root is not None else samples_dir()
    index = root / "index.json"
    if not index.is_file():
        return []
    try:
        entries = _entries(json.loads(index.read_text()))
    except json.JSONDecodeError:
        return []
    out = []
    for e in entries:
        rel = e.get("file") or e.get("path") or e.get("filename")
        if not rel or not (root / rel).is_file():
            continue
        modality = e.get("modality")
        label = e.get("label") or e.get("class") or e.get("class_name")
        title = e.get("name") or e.get("title") or Path(rel).stem
        name = f"{modality or '?'} · {title}" + (f" (class {label})" if label is not None else "")
        out.append(Sample(name, root / rel, modality, None if label is None else str(label)))
    return out


def show_input(modality: str, x: torch.Tensor, path: Optional[Union[str, Path]] = None) -> go.Figure:
    """The input as a person would look at it (see m2pt_core.figures_inputs)."""
    return input_figure(modality, x, path)
