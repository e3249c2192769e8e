"""Out as a timm model: a merged image MultimodalViT written as a timm VisionTransformer folder.

The folder is what timm itself writes with ``timm.models.save_for_hf`` (the Hugging Face Hub layout):
``model.safetensors`` with timm's key names and ``config.json`` with ``architecture``,
``model_args`` and ``pretrained_cfg`` (mean / std / input size / number and names of classes). timm
then loads it either way:

    timm.create_model("local-dir:OUT", pretrained=True)
    timm.create_model(ARCH, pretrained=True, **model_args,     # ARCH, model_args: the export's config.json
                      pretrained_cfg_overlay=dict(file="OUT/model.safetensors", num_classes=N))

(timm keeps a checkpoint's head only when the pretrained_cfg's num_classes equals the model's, hence
num_classes in the overlay.)

Key names: ours are timm's (``blocks.*``, ``cls_token``, ``pos_embed``, ``norm``, ``fc_norm``,
``head``) except the patch projection, ``tokenizer.patch.proj`` → ``patch_embed.proj``. The export
builds the timm model, loads the weights strictly and checks its output against ours before writing.

Only image targets have a timm counterpart; audio targets pooled as AudioMAE's classifier go out in
AudioMAE's layout (layout_export.py), video and point-cloud targets in ours (``export_target`` says
which and why).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..errors import M2PTError
from ..pathways import merge_pathways, pathway_modules

# (embed_dim, depth, num_heads) → timm's size name, so a standard shape exports under its own name.
_TIMM_SIZES = {(192, 12, 3): "tiny", (384, 12, 6): "small", (768, 12, 12): "base", (1024, 24, 16): "large",
               (1280, 32, 16): "huge"}
GENERIC_ARCH = "vit_base_patch16_224"    # any other shape: this entry point plus model_args
_NEUTRAL_CFG = ("architecture", "input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes",
                "pool_size", "first_conv", "classifier", "fixed_input_size")


@dataclass
class TimmExport:
    path: Path                        # the folder (config.json + model.safetensors)
    architecture: str                 # timm model name to create
    model_args: dict[str, Any]        # keyword arguments that rebuild this shape from `architecture`
    max_abs_diff: float               # timm's output vs the exported (unmerged) model's, on the check inputs
    input_size: tuple[int, int, int]  # (C, H, W)
    notes: list[str] = field(default_factory=list)

    def load_commands(self) -> list[str]:
        n = self.model_args["num_classes"]
        args = ", ".join(f"{k}={v!r}" for k, v in self.model_args.items() if k != "num_classes")
        return [f'timm.create_model("local-dir:{self.path}", pretrained=True)',
                f'timm.create_model("{self.architecture}", pretrained=True, num_classes={n}, {args}, '
                f'pretrained_cfg_overlay=dict(file="{self.path / "model.safetensors"}", num_classes={n}, '
                f'input_size={self.input_size!r}))']


def timm_architecture(config) -> tuple[str, dict[str, Any]]:
    """timm name and model_args that rebuild the target's VisionTransformer exactly."""
    spec = config.input
    D, depth, heads = config.embed_dim, config.depth, config.num_heads
    args: dict[str, Any] = {"img_size": spec.img_size, "patch_size": spec.patch_size, "in_chans": spec.in_chans,
                            "embed_dim": D, "depth": depth, "num_heads": heads, "mlp_ratio": config.mlp_dim / D,
                            "num_classes": config.num_classes, "global_pool": config.global_pool,
                            "fc_norm": bool(config.fc_norm), "class_token": True, "qkv_bias": True}
    size = _TIMM_SIZES.get((D, depth, heads))
    name = f"vit_{size}_patch{spec.patch_size}_{spec.img_size}" if size else None
    import timm
    if name is None or not timm.is_model(name) or config.mlp_dim != 4 * D:
        name = GENERIC_ARCH
    return name, args


def timm_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Our merged image model's state dict under timm's key names."""
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("tokenizer.patch.proj."):
            k = "patch_embed.proj." + k[len("tokenizer.patch.proj."):]
        elif k.startswith("tokenizer."):
            raise M2PTError(f"{k}: this tokenizer has no timm counterpart (only image patch embeddings export to timm)")
        out[k] = v.detach().cpu().contiguous()
    return out


def export_timm(model: nn.Module, out_dir: Path, inputs: Optional[torch.Tensor] = None,
                tolerance: float = 1e-5) -> TimmExport:
    """Merge a copy of ``model`` (λ as now) and write it as a timm VisionTransformer folder."""
    import timm
    from timm.models import save_for_hf
    config = getattr(model, "config", None)
    if config is None or config.modality != "image":
        raise M2PTError("timm export needs an image MultimodalViT (audio, video and point-cloud targets: "
                        "--format m2pt)")
    merged = merge_pathways(copy.deepcopy(model), safe=True).float().eval() if pathway_modules(model) \
        else copy.deepcopy(model).float().eval()
    arch, args = timm_architecture(config)
    ref = timm.create_model(arch, pretrained=False, **args).eval()
    ref.load_state_dict(timm_state_dict(merged), strict=True)
    if inputs is None:
        inputs = torch.randn(2, *config.input.input_shape, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():      # timm's output against the model as the user has it (pathways, λ as now)
            diff = float((ref(inputs) - model(inputs).float()).abs().max())
    finally:
        model.train(was_training)
    if not diff <= tolerance:
        raise M2PTError(f"timm's VisionTransformer differs from the merged model by {diff:.3g} (> {tolerance:g}); "
                        f"nothing written")
    spec = config.input
    data_config = {"input_size": (spec.in_chans, spec.img_size, spec.img_size), "mean": tuple(spec.mean),
                   "std": tuple(spec.std), "crop_pct": 1.0}
    model_config = {"pretrained_cfg": {"num_classes": config.num_classes}}
    if config.class_names:
        model_config["label_names"] = list(config.class_names)
    # The entry point's own cfg names a checkpoint (tag, license, hub id) these weights are not: keep
    # only what describes the input and the classifier.
    ref.pretrained_cfg = {k: v for k, v in ref.pretrained_cfg.items() if k in _NEUTRAL_CFG}
    out_dir = Path(out_dir)
    save_for_hf(ref, str(out_dir), model_config=model_config, model_args=args, safe_serialization=True,
                data_config=data_config)
    notes = [f"timm {timm.__version__} VisionTransformer '{arch}'"
             + ("" if arch != GENERIC_ARCH or _TIMM_SIZES.get((config.embed_dim, config.depth, config.num_heads)) == "base"
                else " with model_args giving this model's shape")]
    if pathway_modules(model):
        notes.append(f"{len(pathway_modules(model))} pathways merged (W + λW')")
    return TimmExport(out_dir, arch, args, diff, data_config["input_size"], notes)


EXPORT_FORMATS = ("auto", "timm", "audiomae", "m2pt")


def export_target(model: nn.Module, out_dir: Path, fmt: str = "auto", stem: str = "model",
                  provenance: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Merge and write ``model`` for other tools.

    Args:
        model: a MultimodalViT, with or without pathways (merged on a copy).
        out_dir: the folder to write.
        fmt: "auto", "timm" (image targets as a timm folder), "audiomae" (audio targets pooled as
            AudioMAE's classifier, in AudioMAE's layout; see layout_export.py) or "m2pt" (this
            project's layout: m2pt/1 safetensors + config.json; every other target).
        stem: the file name stem; provenance: extra metadata to write beside it.
    Returns:
        What was written: the layout, its files, and why it is ours when it is not the source project's.
    """
    if fmt not in EXPORT_FORMATS:
        raise M2PTError(f"export format {fmt!r}: expected one of {list(EXPORT_FORMATS)}")
    config = getattr(model, "config", None)
    modality = getattr(config, "modality", None)
    if fmt == "timm" or (fmt == "auto" and modality == "image"):
        res = export_timm(model, Path(out_dir))
        return {"layout": "timm", "path": str(res.path), "architecture": res.architecture,
                "model_args": res.model_args, "max_abs_diff": res.max_abs_diff, "load": res.load_commands(),
                "notes": res.notes}
    from .layout_export import OWN_LAYOUT_REASON, audiomae_exportable, export_audiomae
    if fmt == "audiomae" or (fmt == "auto" and audiomae_exportable(model)):
        return export_audiomae(model, Path(out_dir))
    from .export import export_merged
    res = export_merged(model, Path(out_dir), stem, provenance=provenance)
    why = "requested" if fmt == "m2pt" else OWN_LAYOUT_REASON.get(modality, f"no other layout for {modality!r}")
    return {"layout": "m2pt", "path": str(res["path"]), "config_path": str(res["config_path"]),
            "max_abs_diff": res["max_abs_diff"], "load": [f"m2pt_core.load_checkpoint({str(res['path'])!r})"],
            "notes": [f"this project's layout (m2pt/1): {why}"]}
