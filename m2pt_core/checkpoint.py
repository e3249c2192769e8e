"""Checkpoints: safetensors tensors + JSON metadata (the model config and pathway settings), so a
file rebuilds its model alone. Nothing is ever unpickled: .pt/.pth/.bin files are opened with
``torch.load(weights_only=True)`` and refused when they need more than plain tensors.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors.torch import save_file
from torch import nn

from .config import ModelConfig
from .errors import CheckpointError
from .model import MultimodalViT
from .pathways.layer import PathwayLinear
from .safe_io import PathLike, atomic_write, read_state_dict, unwrap_state_dict  # noqa: F401 (re-exported)

FORMAT = "m2pt/1"


def pathway_settings(model: nn.Module) -> dict[str, dict[str, Any]]:
    """{module name: {aux_trainable[, aux_dtype]}} for every pathway layer in the model (aux_dtype
    only for a W' stored narrower on request, e.g. "bfloat16")."""
    return {name: {"aux_trainable": m.aux_trainable, **_aux_dtype_setting(m)} for name, m in model.named_modules()
            if isinstance(m, PathwayLinear)}


_AUX_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def _aux_dtype_setting(m: PathwayLinear) -> dict[str, str]:
    return {} if m.aux_dtype is None else {"aux_dtype": str(m.aux_dtype).removeprefix("torch.")}


def save_checkpoint(model: nn.Module, path: PathLike, config: Optional[ModelConfig] = None,
                    extra: Optional[dict[str, Any]] = None, dtype: Optional[torch.dtype] = None) -> Path:
    """Write model weights and metadata atomically (temp file, then rename).

    Args:
        model: a MultimodalViT (with or without pathways).
        path: the .safetensors file to write.
        config: the model's config (default: ``model.config``).
        extra: JSON-able metadata to keep beside it (e.g. the training config).
        dtype: storage dtype of floating tensors (e.g. torch.float16); λ always stays fp32.
    Returns:
        The path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = config or getattr(model, "config", None)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point() and not k.endswith(".lam"):
            v = v.to(dtype)
        tensors[k] = v.clone()
    meta = {"format": FORMAT, "pathways": json.dumps(pathway_settings(model))}
    if config is not None:
        meta["config"] = config.to_json()
    if getattr(model, "pathway_info", None):
        meta["pathway_info"] = json.dumps(model.pathway_info)
    if getattr(model, "init_info", None):         # pretrained starting weights (pretrained.LoadReport.to_dict)
        meta["init"] = json.dumps(model.init_info)
    if getattr(model, "data_provenance", None):   # what the model was trained on (DataProvenance dict)
        meta["data"] = json.dumps(model.data_provenance, sort_keys=True)
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    return path


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The JSON metadata of one of our checkpoints, decoded (values that are JSON are parsed)."""
    _, meta = read_state_dict(path)
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, json.JSONDecodeError):
            out[k] = v
    return out


def load_checkpoint(path: PathLike, device: Optional[Union[str, torch.device]] = None) -> MultimodalViT:
    """Rebuild a MultimodalViT (with its pathways, if it had any) from one of our checkpoints.

    Args:
        path: a .safetensors file written by save_checkpoint (never unpickled).
        device: where to put the model (default: the CPU).
    Returns:
        The model, its λ and recorded data provenance included."""
    tensors, meta = read_state_dict(path)
    if "config" not in meta:
        raise CheckpointError(
            f"{Path(path).name} has no M2PT model config in its metadata, so it cannot rebuild a model. "
            f"To use its weights as an auxiliary, use load_aux(); to start a target from them (timm, MAE-family "
            f"or M2PT weights), use load_pretrained_target(path, num_classes) (CLI: m2pt train --init PATH)."
        )
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
        model = MultimodalViT(config)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{Path(path).name} has an invalid model config: {e}") from None
    settings = json.loads(meta.get("pathways", "{}"))
    for name, s in settings.items():
        base = model.get_submodule(name)
        aux = tensors.get(f"{name}.aux_weight")
        if aux is None:
            raise CheckpointError(f"{Path(path).name}: pathway {name} has no aux_weight tensor.")
        aux_dtype = s.get("aux_dtype")
        if aux_dtype is not None and aux_dtype not in _AUX_DTYPES:
            raise CheckpointError(f"{Path(path).name}: pathway {name} has aux_dtype {aux_dtype!r}; expected one of {sorted(_AUX_DTYPES)}.")
        parent_name, _, child = name.rpartition(".")
        # The file's tensor is ours alone: adopted without a second copy.
        setattr(model.get_submodule(parent_name), child,
                PathwayLinear(base, aux.float(), aux_trainable=s.get("aux_trainable", True),
                              aux_dtype=_AUX_DTYPES.get(aux_dtype), adopt_aux=True))
    if "pathway_info" in meta:
        model.pathway_info = json.loads(meta["pathway_info"])
    if "init" in meta:
        model.init_info = json.loads(meta["init"])
    if "data" in meta:
        model.data_provenance = json.loads(meta["data"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{Path(path).name} does not match its own config: missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    if device is not None:
        model.to(device)
    return model.eval()
