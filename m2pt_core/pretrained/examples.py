"""Small synthetic checkpoints in each real layout (random weights, small widths), written with
exactly the key names, nesting and dtypes those projects save (see layouts.py for the sources).

They are what the tests and notebook 05 load, so every layout the loader claims is exercised
without downloading anything. ``reference_vit`` is the timm model whose weights they hold (the
encoder part), so outputs can be compared with timm itself.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Union

import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import Block, VisionTransformer

LAYOUTS = ("timm", "timm-avg", "deit-distilled", "mae", "audiomae", "pointmae", "videomae", "m2pt-official")


def _randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return module.eval()


def reference_vit(layout: str = "timm", width: int = 32, depth: int = 2, heads: int = 2, seed: int = 0) -> VisionTransformer:
    """The timm VisionTransformer whose (encoder) weights example ``layout`` holds."""
    kw: dict[str, Any] = dict(embed_dim=width, depth=depth, num_heads=heads, mlp_ratio=2.0, num_classes=5)
    if layout == "audiomae":
        # AudioMAE: a (time, freq) spectrogram with one channel; 8 frequency patches as in AudioMAE (128 / 16).
        kw.update(img_size=(64, 32), patch_size=4, in_chans=1)
    else:
        kw.update(img_size=32, patch_size=8, in_chans=3)
    if layout == "timm-avg":
        kw.update(global_pool="avg", fc_norm=True)
    if layout == "deit-distilled":
        from timm.models.deit import VisionTransformerDistilled
        return _randomize(VisionTransformerDistilled(**kw), seed)
    return _randomize(VisionTransformer(**kw), seed)


def _block_state(prefix: str, width: int, mlp_ratio: float, seed: int, qkv_bias: bool = True) -> dict[str, torch.Tensor]:
    block = _randomize(Block(width, 2, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias), seed)
    return {f"{prefix}{k}": v for k, v in block.state_dict().items()}


def _mae_args(model: str) -> argparse.Namespace:
    # The entries facebookresearch/mae main_pretrain.py's parser defines (a subset), as saved in 'args'.
    return argparse.Namespace(batch_size=64, epochs=800, accum_iter=1, model=model, input_size=224, mask_ratio=0.75,
                              norm_pix_loss=True, weight_decay=0.05, lr=None, blr=1.5e-4, min_lr=0.0,
                              warmup_epochs=40, data_path="/datasets01/imagenet_full_size/061417/",
                              output_dir="./output_dir", device="cuda", seed=0, resume="", start_epoch=0,
                              num_workers=10, pin_mem=True, world_size=1, local_rank=-1, dist_on_itp=False,
                              dist_url="env://", distributed=False)


def _training_extras(epoch: int) -> dict[str, Any]:
    # torch.cuda.amp.GradScaler.state_dict() and an (empty-state) AdamW optimizer state: plain containers.
    return {"optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.95), "eps": 1e-8,
                                                          "weight_decay": 0.05, "amsgrad": False, "params": [0, 1]}]},
            "epoch": epoch,
            "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                       "_growth_tracker": 0}}


def example_checkpoint(layout: str, width: int = 32, depth: int = 2, seed: int = 0) -> dict[str, Any]:
    """The object a project saves for ``layout`` (a state dict, or a training checkpoint dict)."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown example layout {layout!r}; expected one of {LAYOUTS}.")
    if layout == "pointmae":
        return _pointmae(width, depth, seed)
    if layout == "videomae":
        return _videomae(width, depth, seed)
    ref = reference_vit(layout, width, depth, seed=seed)
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    if layout in ("timm", "timm-avg", "deit-distilled"):
        return sd                                    # timm / Hugging Face model.safetensors: a flat state dict
    if layout == "m2pt-official":
        # AILab-CVC/M2PT CrossModalReparamLinear: aux_weight and cross_modal_scale beside weight / bias.
        g = torch.Generator().manual_seed(seed + 1)
        for i in range(depth):
            for comp in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
                w = sd[f"blocks.{i}.{comp}.weight"]
                sd[f"blocks.{i}.{comp}.aux_weight"] = torch.randn(w.shape, generator=g) * 0.2
                sd[f"blocks.{i}.{comp}.cross_modal_scale"] = torch.randn(1, generator=g) * 0.1
        return {"model": sd, **_training_extras(9), "args": _mae_args("vit_base_patch16")}
    # MAE / AudioMAE pre-training (models_mae.py MaskedAutoencoderViT): no head, a decoder, a mask token.
    for k in ("head.weight", "head.bias"):
        sd.pop(k)
    dec = width // 2
    n = ref.patch_embed.num_patches
    p = ref.patch_embed.patch_size
    g = torch.Generator().manual_seed(seed + 2)
    sd["mask_token"] = torch.randn(1, 1, dec, generator=g)
    sd["decoder_embed.weight"], sd["decoder_embed.bias"] = torch.randn(dec, width, generator=g), torch.zeros(dec)
    sd["decoder_pos_embed"] = torch.randn(1, 1 + n, dec, generator=g)
    sd.update(_block_state("decoder_blocks.0.", dec, 2.0, seed + 3))
    sd["decoder_norm.weight"], sd["decoder_norm.bias"] = torch.ones(dec), torch.zeros(dec)
    out = p[0] * p[1] * ref.patch_embed.proj.in_channels
    sd["decoder_pred.weight"], sd["decoder_pred.bias"] = torch.randn(out, dec, generator=g), torch.zeros(out)
    # AudioMAE's main_pretrain.py reuses MAE's model names and checkpoint format.
    return {"model": sd, **_training_extras(799), "args": _mae_args("mae_vit_base_patch16")}


def _pointmae(width: int, depth: int, seed: int) -> dict[str, Any]:
    """Point-MAE pre-training checkpoint (tools/builder.py save_checkpoint: {'base_model', 'optimizer',
    'epoch', 'metrics', 'best_metrics'}), saved from DataParallel, hence 'module.'."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd: dict[str, torch.Tensor] = {}
    enc = "module.MAE_encoder."
    # Encoder (group embedding): first_conv = Conv1d(3,128) BN ReLU Conv1d(128,256);
    # second_conv = Conv1d(512,512) BN ReLU Conv1d(512, encoder_dims).
    for name, cin, hid, cout in (("first_conv", 3, 128, 256), ("second_conv", 512, 512, width)):
        c = f"{enc}encoder.{name}."
        sd[c + "0.weight"], sd[c + "0.bias"] = r(hid, cin, 1), r(hid)
        sd[c + "1.weight"], sd[c + "1.bias"] = torch.ones(hid), torch.zeros(hid)
        sd[c + "1.running_mean"], sd[c + "1.running_var"] = torch.zeros(hid), torch.ones(hid)
        sd[c + "1.num_batches_tracked"] = torch.tensor(100)
        sd[c + "3.weight"], sd[c + "3.bias"] = r(cout, hid, 1), r(cout)
    sd[f"{enc}pos_embed.0.weight"], sd[f"{enc}pos_embed.0.bias"] = r(128, 3), r(128)
    sd[f"{enc}pos_embed.2.weight"], sd[f"{enc}pos_embed.2.bias"] = r(width, 128), r(width)
    for i in range(depth):   # TransformerEncoder blocks: qkv without bias (qkv_bias=False)
        sd.update(_block_state(f"{enc}blocks.blocks.{i}.", width, 4.0, seed + 10 + i, qkv_bias=False))
    sd[f"{enc}norm.weight"], sd[f"{enc}norm.bias"] = torch.ones(width), torch.zeros(width)
    sd["module.mask_token"] = r(1, 1, width)
    sd["module.decoder_pos_embed.0.weight"], sd["module.decoder_pos_embed.2.weight"] = r(128, 3), r(width, 128)
    sd.update(_block_state("module.MAE_decoder.blocks.blocks.0.", width, 4.0, seed + 50, qkv_bias=False))
    sd["module.MAE_decoder.norm.weight"], sd["module.MAE_decoder.norm.bias"] = torch.ones(width), torch.zeros(width)
    sd["module.increase_dim.0.weight"], sd["module.increase_dim.0.bias"] = r(3 * 32, width, 1), r(3 * 32)
    return {"base_model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 300,
            "metrics": {}, "best_metrics": {}}


def _videomae(width: int, depth: int, seed: int) -> dict[str, Any]:
    """VideoMAE pre-training checkpoint (modeling_pretrain.py; run_mae_pretraining.py saves 'model' + 'args'):
    encoder.* with a Conv3d tubelet embedding, q_bias / v_bias, no stored pos_embed; decoder.*."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {"encoder.patch_embed.proj.weight": r(width, 3, 2, 8, 8), "encoder.patch_embed.proj.bias": r(width)}
    for i in range(depth):
        b = _block_state(f"encoder.blocks.{i}.", width, 4.0, seed + 10 + i, qkv_bias=False)
        sd.update(b)
        sd[f"encoder.blocks.{i}.attn.q_bias"], sd[f"encoder.blocks.{i}.attn.v_bias"] = r(width), r(width)
    sd["encoder.norm.weight"], sd["encoder.norm.bias"] = torch.ones(width), torch.zeros(width)
    dec = width // 2
    sd["encoder_to_decoder.weight"] = r(dec, width)
    sd["mask_token"] = r(1, 1, dec)
    sd.update(_block_state("decoder.blocks.0.", dec, 4.0, seed + 50, qkv_bias=False))
    sd["decoder.norm.weight"], sd["decoder.norm.bias"] = torch.ones(dec), torch.zeros(dec)
    sd["decoder.head.weight"], sd["decoder.head.bias"] = r(3 * 2 * 8 * 8, dec), r(3 * 2 * 8 * 8)
    args = argparse.Namespace(model="pretrain_videomae_base_patch16_224", num_frames=16, tubelet_size=2,
                              input_size=224, mask_type="tube", mask_ratio=0.9, normlize_target=True)
    return {"model": sd, **_training_extras(1599), "args": args}


def write_example_checkpoint(layout: str, path: Union[str, Path], **kw: Any) -> Path:
    """Write ``example_checkpoint(layout)``: flat state dicts as .safetensors, the rest with torch.save."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = example_checkpoint(layout, **kw)
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in obj.items()}, str(path))
    else:
        torch.save(obj, path)
    return path
