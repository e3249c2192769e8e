"""Our own MultimodalViT checkpoints as a pretrained target: same architecture, a new head, the
input spec of the user's data where the tokenizer allows it (the position table is resampled)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Union

import torch
from timm.layers import resample_abs_pos_embed

from ..config import ModelConfig
from ..errors import CheckpointError
from ..modalities import InputSpec
from ..model import MultimodalViT
from .apply import attach_loaded_pathways, fill_model
from .layouts import Canonical
from .report import LoadReport
from .sources import Source


def load_own_target(src: Source, canon: Canonical, num_classes: int, input: Union[None, InputSpec, dict],
                    class_names: Optional[list[str]], dataset: Optional[str]) -> tuple[MultimodalViT, LoadReport]:
    if not src.config:
        raise CheckpointError(f"{src.name} has our tensor names (tokenizer.*) but no model config in its metadata; "
                              f"expected a checkpoint written by save_checkpoint.")
    config = ModelConfig.from_dict(src.config)
    spec = config.input
    if isinstance(input, dict):
        spec = replace(spec, **input)
    elif input is not None:
        if type(input) is not type(spec):
            raise CheckpointError(f"{src.name} is a {config.modality} model; input is a {type(input).__name__}, "
                                  f"expected a {type(spec).__name__}.")
        spec = input
    if class_names is not None and len(class_names) != num_classes:
        raise CheckpointError(f"class_names has {len(class_names)} names but num_classes is {num_classes}.")
    config = replace(config, num_classes=num_classes, class_names=class_names, dataset=dataset, input=spec)
    model = MultimodalViT(config)
    report = LoadReport(src.name, "m2pt", notes=list(src.notes) + list(canon.notes), config=config.to_dict())
    mapped = {}
    for k, t in canon.tensors.items():
        if k.startswith("_") or k.startswith("head."):
            continue
        mapped[k] = (t, canon.origin[k], "")
    pos = canon.tensors.get("pos_embed")
    grid = getattr(model.tokenizer, "grid_size", None)
    if pos is not None and pos.shape != model.pos_embed.shape and grid is not None and len(grid) == 2:
        old = getattr(MultimodalViT(replace(config, input=ModelConfig.from_dict(src.config).input)).tokenizer, "grid_size")
        new = resample_abs_pos_embed(pos.float(), new_size=list(grid), old_size=list(old), num_prefix_tokens=1)
        mapped["pos_embed"] = (new, canon.origin["pos_embed"],
                               f"resampled from {old[0]}×{old[1]} to {grid[0]}×{grid[1]} (bicubic)")
    own = model.state_dict()
    for k in list(mapped):
        if k in own and tuple(mapped[k][0].shape) != tuple(own[k].shape):
            report.skipped[mapped.pop(k)[1]] = (f"shape {tuple(canon.tensors[k].shape)} does not fit the new input "
                                                f"spec's {tuple(own[k].shape)}")
    fill_model(model, mapped, report, canon, src.name)
    report.skipped.update({canon.origin.get(k, k): "the checkpoint's own classifier: a new head is made for your classes"
                           for k in canon.tensors if k.startswith("head.")})
    report.skipped.update(canon.skipped)
    attach_loaded_pathways(model, canon, report)
    if isinstance(model.pos_embed, torch.Tensor) and report.status("pos_embed") is None:
        report.left_at_init["pos_embed"] = "no position table in the checkpoint"
    return model, report
