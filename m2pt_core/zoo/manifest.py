"""Zoo lookup: the folder, its manifest.json (each model's dataset, size, accuracy, sha256 and
recipe), names → files, loading and verifying. Building lives in zoo/build.py."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd
import torch

from ..checkpoint import load_checkpoint
from ..assets import asset_dir
from ..errors import CheckpointError, M2PTError
from ..model import MultimodalViT
from ..safe_io import atomic_write_text

MANIFEST = "manifest.json"
FORMAT = "m2pt-zoo/1"


def zoo_dir(path: Optional[Union[str, Path]] = None, must_exist: bool = True) -> Path:
    """The zoo folder: ``path``, else $M2PT_ZOO_DIR, $M2PT_ASSETS_DIR/zoo, assets/zoo beside the
    package or in the working directory (assets.py); AssetsNotFoundError saying how to point at it.
    ``must_exist=False``: the checkout's assets/zoo when none exists yet (where `zoo build` writes)."""
    return asset_dir("zoo", path, must_exist)


def sha256(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(path: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """The parsed manifest.json ({"format", "models": {name: entry}})."""
    file = zoo_dir(path) / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"No zoo manifest at {file}; build the zoo with `m2pt zoo build`.")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise CheckpointError(f"{file} has no 'models' table; expected the format {FORMAT}.")
    return data


def _entries(path: Optional[Union[str, Path]] = None) -> dict[str, dict[str, Any]]:
    try:
        return manifest(path)["models"]
    except FileNotFoundError:
        return {}


def model_names(path: Optional[Union[str, Path]] = None) -> list[str]:
    return list(_entries(path))


def model_path(name: str, path: Optional[Union[str, Path]] = None) -> Path:
    """File of zoo model ``name``; KeyError naming the known models when there is none."""
    entries = _entries(path)
    if name not in entries:
        known = ", ".join(entries) or "none (the zoo is not built: `m2pt zoo build`)"
        raise KeyError(f"Unknown zoo model {name!r}; the zoo has: {known}.")
    file = zoo_dir(path) / entries[name]["file"]
    if not file.is_file():
        raise FileNotFoundError(f"Zoo model {name!r} is in the manifest but {file} is missing; "
                                f"run `m2pt zoo build` or `m2pt zoo verify`.")
    return file


def resolve(name: str, path: Optional[Union[str, Path]] = None) -> Optional[Path]:
    """File of zoo model ``name``, or None when the zoo has no such name (a resolver for
    ``load_aux(..., resolve=zoo.resolve)``). A listed model whose file is missing still raises."""
    if name not in _entries(path):
        return None
    return model_path(name, path)


def load(name: str, device: Optional[Union[str, torch.device]] = None,
         path: Optional[Union[str, Path]] = None) -> MultimodalViT:
    """Zoo model ``name`` (with its pathways, if it has any), in eval mode."""
    return load_checkpoint(model_path(name, path), device=device)


def list_models(path: Optional[Union[str, Path]] = None) -> pd.DataFrame:
    """One row per zoo model: name, modality, dataset, size, auxiliary, accuracy, params, MB."""
    cols = ["name", "modality", "dataset", "size", "auxiliary", "accuracy", "params", "mb", "epochs",
            "training_time_s", "file"]
    rows = [{"name": n, **e, "mb": round(e.get("bytes", 0) / 1e6, 2)} for n, e in _entries(path).items()]
    return pd.DataFrame(rows, columns=cols)


def verify(path: Optional[Union[str, Path]] = None) -> list[str]:
    """Problems found (empty: every file is present and matches its sha256 in the manifest)."""
    try:
        root = zoo_dir(path)
        entries = manifest(root)["models"]
    except (FileNotFoundError, M2PTError) as e:   # a bad manifest, or no zoo anywhere (AssetsNotFoundError)
        return [str(e)]
    problems = []
    for name, e in entries.items():
        for key, sha_key in (("file", "sha256"), ("log", "log_sha256")):
            if not e.get(key):
                continue
            f = root / e[key]
            if not f.is_file():
                problems.append(f"{name}: {e[key]} is missing")
            elif sha256(f) != e.get(sha_key):
                problems.append(f"{name}: {e[key]} is corrupted (sha256 {sha256(f)[:12]}… does not match the "
                                f"manifest's {str(e.get(sha_key))[:12]}…)")
    return problems


def write_manifest(root: Path, entries: dict[str, Any]) -> None:
    atomic_write_text(root / MANIFEST, json.dumps({"format": FORMAT, "models": entries}, indent=1) + "\n")
