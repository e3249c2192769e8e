"""Bundled sample files (assets/samples/index.json) and the display of any input."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import plotly.graph_objects as go
import torch

from ..assets import asset_dir
from ..errors import InputFileError, M2PTError
from ..figures.inputs import input_figure


def samples_dir() -> Path:
    """assets/samples, found as assets.py says (AssetsNotFoundError if nowhere)."""
    return asset_dir("samples")


@dataclass(frozen=True)
class Sample:
    name: str          # what the UI lists, e.g. "audio · chirp (class: chirp)"
    path: Path
    modality: Optional[str]
    label: Optional[str]


def bundled_samples(root: Optional[Union[str, Path]] = None) -> list[Sample]:
    """Samples listed in ``root``/index.json whose files exist (empty when there is no index).

    The index is what ``m2pt_core.data.samples.write_samples`` writes: a JSON list of entries with
    "file", "modality" and "label" (plus provenance fields not shown here)."""
    root = Path(root) if root is not None else samples_dir()
    index = root / "index.json"
    if not index.is_file():
        return []
    try:
        entries = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise M2PTError(f"{index} is not valid JSON ({e}); rewrite it with `python -m m2pt_core.data.samples`.") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "file" in e for e in entries):
        raise M2PTError(f"{index} is not a list of {{\"file\", \"modality\", \"label\", ...}} entries as "
                        f"write_samples writes it; rewrite it with `python -m m2pt_core.data.samples`.")
    out = []
    for e in entries:
        rel = e["file"]
        if not (root / rel).is_file():
            continue
        modality, label = e.get("modality"), e.get("label")
        name = f"{modality or '?'} · {Path(rel).stem}" + (f" (class {label})" if label is not None else "")
        out.append(Sample(name, root / rel, modality, None if label is None else str(label)))
    return out


# Most pixels an uploaded image may have, checked from its header before anything is decoded:
# a 198 KB PNG can hold 8000×8000 pixels (192 MB as RGB, more as floats). 25 million covers a
# 24-megapixel camera photo; the model sees a small resized copy anyway.
MAX_INPUT_PIXELS = 25_000_000


def check_image_pixels(path: Union[str, Path], max_pixels: int = MAX_INPUT_PIXELS) -> None:
    """Refuse an image file with more than ``max_pixels`` pixels (InputFileError), reading only its
    header. Files PIL cannot open are left to the loader, which says what is wrong with them."""
    from PIL import Image
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - not an image PIL knows: the loader's message is the clear one
        return
    if w * h > max_pixels:
        raise InputFileError(f"{path.name} is {w}×{h} = {w * h / 1e6:.1f} million pixels; this app reads images of "
                             f"at most {max_pixels / 1e6:.0f} million pixels (the model sees a small resized copy). "
                             "Scale it down and upload it again.")


def show_input(modality: str, x: torch.Tensor, path: Optional[Union[str, Path]] = None) -> go.Figure:
    """The input as a person would look at it (see m2pt_core.figures.inputs)."""
    return input_figure(modality, x, path)
