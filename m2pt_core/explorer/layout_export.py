"""Audio, video and point-cloud targets out in the layout of the project they come from, where that
project's model computes the same function; else in ours, with the reason.

AudioMAE (facebookresearch/AudioMAE models_vit.py): its fine-tuning ``VisionTransformer`` is timm's,
with ``global_pool=True`` (mean of the patch tokens, then ``fc_norm``; its ``norm`` is deleted),
``in_chans=1`` and ``img_size=(time, freq)``: the input is (B, 1, T, F), time first, and the patch
grid (T/p, F/p) is numbered time-major. Ours reads (B, 1, F, T) on an (F/p, T/p) grid. So the
patch kernel is transposed back (D, 1, p, p) over (time, freq) and the position table's patch rows
are reordered time-major; attention and mean pooling do not depend on the token order, so the
outputs are equal. Written as AudioMAE saves (util/misc.py ``save_model``): ``checkpoint.pth`` =
``{'model': state_dict}``, which its main_finetune.py reads (``checkpoint['model']``), beside a
``config.json`` with the model arguments and the spectrogram settings. A target pooled by its
class token (with a final ``norm``) has no AudioMAE counterpart: AudioMAE's classifier deletes
``norm`` and only pools by average.

VideoMAE (MCG-NJU/VideoMAE modeling_finetune.py): no class token (every token is a patch) and a
fixed sinusoid position table; ours has a class token every patch attends to and a learned table,
so no VideoMAE model computes our function. Point-MAE (Pang-Yatian/Point-MAE models/Point_MAE.py):
its group encoder (Conv1d + BatchNorm1d) and per-block position MLP differ from ours. Both stay in
this project's layout.
"""
from __future__ import annotations

import copy
import json
from functools import partial
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..errors import M2PTError
from ..pathways import merge_pathways, pathway_modules

OWN_LAYOUT_REASON = {
    "audio": "AudioMAE's classifier (models_vit.py) pools the patch tokens by average with fc_norm and has no "
             "final norm; this model pools by its class token, so AudioMAE's layout cannot hold it (train with "
             "global_pool='avg', fc_norm=True for an AudioMAE export)",
    "video": "VideoMAE's VisionTransformer (modeling_finetune.py) has no class token and a fixed sinusoid position "
             "table; this model's class token is attended to by every patch, so no VideoMAE model computes it",
    "pointcloud": "Point-MAE's group encoder (Conv1d + BatchNorm1d) and per-block position MLP differ from ours, so "
                  "no Point-MAE model computes it",
}
AUDIOMAE_FILE = "checkpoint.pth"


def audiomae_exportable(model: nn.Module) -> bool:
    c = getattr(model, "config", None)
    return c is not None and c.modality == "audio" and c.global_pool == "avg" and bool(c.fc_norm)


def audiomae_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A merged audio MultimodalViT's weights under AudioMAE's keys and axes (see module doc)."""
    grid_f, grid_t = model.tokenizer.grid_size                        # (F/p, T/p)
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if k.startswith("tokenizer.patch.proj."):
            k = "patch_embed.proj." + k[len("tokenizer.patch.proj."):]
            if k.endswith("weight"):
                v = v.transpose(-1, -2)                                # (D, 1, p_f, p_t) → (D, 1, p_t, p_f)
        elif k == "pos_embed":                                          # (1, 1 + F·T, D), patches freq-major
            D = v.shape[-1]
            patches = v[:, 1:].reshape(1, grid_f, grid_t, D).transpose(1, 2).reshape(1, grid_f * grid_t, D)
            v = torch.cat([v[:, :1], patches], dim=1)                  # patches time-major, as AudioMAE's
        elif k.startswith("tokenizer."):
            raise M2PTError(f"{k}: this audio tokenizer has no AudioMAE counterpart")
        out[k] = v.contiguous()
    return out


def audiomae_reference(model: nn.Module) -> nn.Module:
    """AudioMAE's fine-tuning model for ``model``'s shape: timm's VisionTransformer with average
    pooling and fc_norm over a (time, freq) input (what models_vit.VisionTransformer is)."""
    from timm.models.vision_transformer import VisionTransformer
    c, spec = model.config, model.config.input
    return VisionTransformer(img_size=(spec.n_frames, spec.n_mels), patch_size=spec.patch_size, in_chans=1,
                             num_classes=c.num_classes, embed_dim=c.embed_dim, depth=c.depth, num_heads=c.num_heads,
                             mlp_ratio=c.mlp_dim / c.embed_dim, qkv_bias=True, global_pool="avg", fc_norm=True,
                             norm_layer=partial(nn.LayerNorm, eps=1e-6))


def export_audiomae(model: nn.Module, out_dir: Path, inputs: Optional[torch.Tensor] = None,
                    tolerance: float = 1e-5) -> dict[str, Any]:
    """Merge a copy of ``model`` (λ as now) and write it in AudioMAE's layout, after checking that
    AudioMAE's model (timm's VisionTransformer as models_vit builds it) on the (time, freq) input
    gives our outputs. Returns what export_target reports."""
    if not audiomae_exportable(model):
        raise M2PTError("AudioMAE export needs an audio target pooled by average with fc_norm: "
                        + OWN_LAYOUT_REASON["audio"])
    merged = merge_pathways(copy.deepcopy(model), safe=True) if pathway_modules(model) else copy.deepcopy(model)
    merged = merged.float().eval()
    sd = audiomae_state_dict(merged)
    ref = audiomae_reference(merged).eval()
    ref.load_state_dict(sd, strict=True)
    if inputs is None:
        inputs = torch.randn(2, *model.config.input.input_shape, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():       # AudioMAE reads (B, 1, T, F); ours (B, 1, F, T)
            diff = float((ref(inputs.transpose(-1, -2)) - model(inputs).float()).abs().max())
    finally:
        model.train(was_training)
    if not diff <= tolerance:
        raise M2PTError(f"AudioMAE's model differs from ours by {diff:.3g} (> {tolerance:g}); nothing written")
    c, spec = model.config, model.config.input
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"model": sd}, out_dir / AUDIOMAE_FILE)
    config = {"layout": "audiomae",
              "model_args": {"img_size": [spec.n_frames, spec.n_mels], "patch_size": spec.patch_size, "in_chans": 1,
                             "embed_dim": c.embed_dim, "depth": c.depth, "num_heads": c.num_heads,
                             "mlp_ratio": c.mlp_dim / c.embed_dim, "qkv_bias": True, "global_pool": True,
                             "num_classes": c.num_classes},
              "input": {"layout": "(batch, 1, time, freq)", "target_length": spec.n_frames,
                        "num_mel_bins": spec.n_mels, **{k: v for k, v in asdict(spec).items()
                                                       if k not in ("n_mels", "n_frames", "patch_size")}},
              "class_names": list(c.class_names or []), "merged_pathways": len(pathway_modules(model))}
    (out_dir / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    path = out_dir / AUDIOMAE_FILE
    return {"layout": "audiomae", "path": str(path), "config_path": str(out_dir / "config.json"),
            "max_abs_diff": diff,
            "load": ["AudioMAE: models_vit.VisionTransformer(**config['model_args'], norm_layer=partial(nn.LayerNorm, "
                     f"eps=1e-6)).load_state_dict(torch.load({str(path)!r})['model'])",
                     f"m2pt_core.pretrained.load_pretrained_target({str(path)!r}, num_classes, modality='audio', "
                     "input=AudioSpec(...))  # a new head, as for any pretrained target"],
            "notes": [f"AudioMAE's layout (models_vit.py, fine-tuning, global_pool=True): input (batch, 1, time "
                      f"{spec.n_frames}, freq {spec.n_mels}); outputs equal to this model's within {diff:.1e}"]}
