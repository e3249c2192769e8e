"""Reading a pretrained source (file, Hugging Face name, state dict, nn.Module) into tensors plus
the hints a checkpoint carries about its shape (training args, our config, the model's name)."""
from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from ..errors import CheckpointError, M2PTError
from ..hf_cache import hf_model_name, resolve_hf_weights
from ..safe_io import read_checkpoint_object, read_state_dict, unwrap_state_dict
from .layouts import canonicalize

# Heads are not stored in any tensor. Known ViT sizes by name (timm / MAE / VideoMAE model names
# such as 'vit_small_patch16_224', 'mae_vit_base_patch16', 'pretrain_videomae_base_patch16_224')
# and by width (ViT-Ti/S/B/L/H; Point-MAE's trans_dim 384 uses 6 heads).
HEADS_BY_NAME = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12), "large": (1024, 16), "huge": (1280, 16)}
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}


@dataclass
class Source:
    state_dict: dict[str, torch.Tensor]
    name: str                                    # for messages and the report
    args: dict[str, Any] = field(default_factory=dict)   # MAE-family training args, if any
    config: Optional[dict[str, Any]] = None      # our own ModelConfig, if the file is ours
    num_heads: Optional[int] = None              # known from the module itself
    notes: list[str] = field(default_factory=list)
    private: bool = False                        # read from a file here: nobody else holds its tensors


def _args_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        a = obj.get("args")
        if isinstance(a, argparse.Namespace):
            return vars(a)
        if isinstance(a, dict):
            return a
    return {}


def read_source(source: Any, container: Optional[str] = None) -> Source:
    """Tensors and hints from a path, a Hugging Face name, a (nested) dict, or an nn.Module."""
    notes: list[str] = []
    if isinstance(source, nn.Module):
        heads = None
        blocks = getattr(source, "blocks", None)
        if blocks is not None and len(blocks) and hasattr(blocks[0], "attn"):
            heads = getattr(blocks[0].attn, "num_heads", None)
        config = getattr(source, "config", None)
        return Source(source.state_dict(), type(source).__name__, num_heads=heads,
                      config=config.to_dict() if hasattr(config, "to_dict") else None)
    if isinstance(source, dict):
        sd = unwrap_state_dict(source, container=container, notes=notes)
        return Source(sd, "state dict", _args_dict(source), notes=notes)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.exists():
            hf = resolve_hf_weights(source)
            if hf is None:
                raise CheckpointError(f"Pretrained source {str(source)!r} is neither a file nor a Hugging Face "
                                      f"model name ('org/name' or 'hf-hub:org/name').")
            path, name = hf, hf_model_name(source)
            notes.append(f"resolved {source} from the local Hugging Face cache: {hf}")
        elif path.is_dir() and (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        obj, meta = read_checkpoint_object(path)
        sd = unwrap_state_dict(obj, container=container, notes=notes)
        config = json.loads(meta["config"]) if "config" in meta else None
        return Source(sd, name, _args_dict(obj), config, notes=notes, private=True)
    raise CheckpointError(f"Cannot read pretrained weights from a {type(source).__name__}; expected a path, a "
                          f"Hugging Face name, a state dict or an nn.Module.")


def heads_for(width: int, src: Source, explicit: Optional[int]) -> tuple[int, str]:
    """(number of heads, where it came from)."""
    if explicit:
        return int(explicit), "given"
    if src.num_heads:
        return int(src.num_heads), "the module"
    if src.config and src.config.get("num_heads"):
        return int(src.config["num_heads"]), "the checkpoint's config"
    for key in ("num_heads", "heads"):
        if isinstance(src.args.get(key), int):
            return int(src.args[key]), f"args.{key}"
    for text, where in ((str(src.args.get("model", "")), "args.model"), (src.name, "the model name")):
        for word in re.split(r"[^a-z]+", text.lower()):
            if word in HEADS_BY_NAME and HEADS_BY_NAME[word][0] == width:
                return HEADS_BY_NAME[word][1], f"{where} ({text!r})"
    if width in HEADS_BY_WIDTH:
        return HEADS_BY_WIDTH[width], f"the standard ViT of width {width}"
    if width % 64 == 0:
        return width // 64, "head width 64 (ViT convention)"
    raise CheckpointError(f"Cannot tell the number of attention heads of a width-{width} checkpoint (heads are "
                          f"not stored in the weights, and {width} is no standard ViT width "
                          f"{sorted(HEADS_BY_WIDTH)}); pass num_heads= (CLI: --num-heads; dashboard: 'heads').")


def describe_weights(path: Union[str, Path]) -> str:
    """One line about a weights-only file: its layout and shape, as the pretrained loader sees it."""
    try:
        tensors, _ = read_state_dict(path)
        c = canonicalize(tensors)
    except M2PTError:
        return f"{Path(path).name}: weights only (usable as an auxiliary when its blocks are recognised)"
    qkv = c.tensors.get("blocks.0.attn.qkv.weight")
    width = f", width {qkv.shape[1]}" if qkv is not None else ""
    return (f"{Path(path).name}: {c.layout} layout, {c.depth} blocks{width}; usable as an auxiliary, or open it as a "
            f"pretrained target for a dataset")
