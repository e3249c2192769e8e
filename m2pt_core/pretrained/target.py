"""load_pretrained_target: pretrained ViT weights (timm, DeiT, MAE, AudioMAE, Point-MAE, VideoMAE,
official M2PT, ours) as the starting point of a MultimodalViT target.

The size follows the checkpoint (width, depth and MLP width from the tensors; heads from the
model's name, its training args, a standard ViT width, or ``num_heads=``); the position table is
resampled to the target's token grid; a new head is made for the user's classes. The returned
LoadReport accounts for every key.
"""
from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any, Optional, Union

import torch
from timm.layers import resample_abs_pos_embed, resample_patch_embed

from ..config import ModelConfig
from ..errors import CheckpointError
from ..modalities import SPEC_CLASSES, AudioSpec, ImageSpec, InputSpec, VideoSpec, check_modality, default_spec
from ..model import MultimodalViT
from ..sizes import ModelSize, get_size, list_sizes
from .apply import attach_loaded_pathways, fill_model
from .layouts import Canonical, canonicalize, sinusoid_table
from .report import LoadReport
from .sources import heads_for, read_source

_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_LAYOUT_MODALITY = {"videomae": "video", "pointmae": "pointcloud", "audiomae": "audio"}


def _size_label(D: int, depth: int, heads: int, mlp: int) -> str:
    for name in list_sizes():
        if get_size(name) == ModelSize(D, depth, heads, mlp):
            return name
    return f"custom-{D}x{depth}"


def _round_up(n: int, m: int) -> int:
    return max(m, int(math.ceil(n / m)) * m)


def _shape(c: Canonical, source: str) -> tuple[int, int, int]:
    """(width, depth, MLP width) read from the block tensors; every block must agree."""
    depth = c.depth
    qkv = [c.tensors.get(f"blocks.{i}.attn.qkv.weight") for i in range(depth)]
    fc1 = [c.tensors.get(f"blocks.{i}.mlp.fc1.weight") for i in range(depth)]
    if any(t is None for t in qkv + fc1):
        missing = [f"blocks.{i}.{n}" for i in range(depth) for n, t in (("attn.qkv", qkv[i]), ("mlp.fc1", fc1[i])) if t is None]
        raise CheckpointError(f"{source}: blocks 0..{depth - 1} expected, but {missing[:4]} are missing.")
    D, mlp = int(qkv[0].shape[1]), int(fc1[0].shape[0])
    bad = [i for i in range(depth) if tuple(qkv[i].shape) != (3 * D, D) or tuple(fc1[i].shape) != (mlp, D)]
    if bad:
        raise CheckpointError(f"{source}: blocks differ in shape (block {bad[0]}: qkv {tuple(qkv[bad[0]].shape)}, "
                              f"fc1 {tuple(fc1[bad[0]].shape)}; expected ({3 * D}, {D}) and ({mlp}, {D})).")
    return D, depth, mlp


def _native_spec(c: Canonical, modality: str, w: Optional[torch.Tensor], audio_tf: bool) -> InputSpec:
    """The input the checkpoint was trained on, as far as its tensors tell."""
    pos = c.tensors.get("pos_embed")
    if modality == "image":
        C, p = int(w.shape[1]), int(w.shape[-1])
        n = pos.shape[1] - _pos_slots(c) if pos is not None else 0
        side = int(math.isqrt(n)) if n else 14
        mean, std = _IMAGENET if C == 3 else ((0.5,) * C, (0.5,) * C)
        return ImageSpec(img_size=side * p if side * side == n or not n else 224, patch_size=p, in_chans=C,
                         mean=mean, std=std)
    if modality == "audio":
        p = int(w.shape[-1])
        n = pos.shape[1] - _pos_slots(c, audio_tf) if pos is not None else 0
        f = 8 if audio_tf and n and n % 8 == 0 else int(math.isqrt(n)) or 4   # AudioMAE: 128 mel bins / 16
        return AudioSpec(n_mels=f * p, n_frames=(n // f if n else 6) * p, patch_size=p)
    if modality == "video":
        C, t, p = int(w.shape[1]), int(w.shape[2]), int(w.shape[-1])
        return VideoSpec(num_frames=16, img_size=224, in_chans=C, tubelet_size=t, patch_size=p,
                         mean=_IMAGENET[0] if C == 3 else (0.5,) * C, std=_IMAGENET[1] if C == 3 else (0.5,) * C)
    return default_spec(modality)


def _num_prefix(c: Canonical) -> int:
    """Prefix tokens (cls, distillation, registers) of the checkpoint's model."""
    n = 1 if "cls_token" in c.tensors else 0
    n += 1 if "_dist_token" in c.tensors else 0
    reg = c.tensors.get("_reg_tokens")
    return n + (int(reg.shape[1]) if reg is not None else 0)


def _is_grid(n: int, audio_tf: bool) -> bool:
    """Can ``n`` patch entries be the checkpoint's grid (square image; AudioMAE: 8 frequency rows)?"""
    return n > 0 and (math.isqrt(n) ** 2 == n or (audio_tf and n % 8 == 0))


def _pos_slots(c: Canonical, audio_tf: bool = False) -> int:
    """Prefix slots the position table holds: one per prefix token (timm's default), or none when
    the table covers the patches only (timm ``no_embed_class=True``: DeiT III, register models,
    which add positions to the patches and then prepend the class token)."""
    pos, P = c.tensors.get("pos_embed"), _num_prefix(c)
    if pos is None or P == 0:
        return P
    n = int(pos.shape[1])
    return 0 if not _is_grid(n - P, audio_tf) and _is_grid(n, audio_tf) else P


def _target_spec(native: InputSpec, modality: str, given: Union[None, InputSpec, dict], notes: list[str]) -> InputSpec:
    """The user's input spec, with the checkpoint's patch / tubelet size (a spec object, e.g. a
    dataset's) or with only the named fields replaced (a dict; a different patch_size there means
    resampling the patch embedding)."""
    if given is None:
        return native
    if isinstance(given, dict):
        known = {f.name for f in fields(type(native))}
        unknown = set(given) - known
        if unknown:
            raise CheckpointError(f"Unknown {modality} input option(s) {sorted(unknown)}; expected some of {sorted(known)}.")
        spec = replace(native, **given)
    else:
        if not isinstance(given, SPEC_CLASSES[modality]):
            raise CheckpointError(f"input is a {type(given).__name__}, expected a {SPEC_CLASSES[modality].__name__} "
                                  f"for a {modality} target.")
        spec = given
        keep = {k: getattr(native, k) for k in ("patch_size", "tubelet_size") if hasattr(native, k)}
        changed = {k: (getattr(spec, k), v) for k, v in keep.items() if getattr(spec, k) != v}
        if changed:
            notes.append("input " + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items()) +
                         " (the checkpoint's; pass input={'patch_size': ...} to resample the patch embedding instead)")
            spec = replace(spec, **keep)
    # Every grid dimension must hold a whole number of patches.
    p = getattr(spec, "patch_size", None)
    for k in ("img_size", "n_mels", "n_frames"):
        if p and hasattr(spec, k) and getattr(spec, k) % p:
            notes.append(f"input {k} {getattr(spec, k)} rounded up to {_round_up(getattr(spec, k), p)} "
                         f"(a multiple of the patch size {p})")
            spec = replace(spec, **{k: _round_up(getattr(spec, k), p)})
    if isinstance(spec, VideoSpec) and spec.num_frames % spec.tubelet_size:
        spec = replace(spec, num_frames=_round_up(spec.num_frames, spec.tubelet_size))
    return spec


def _adapt_patch(w: torch.Tensor, spec: InputSpec, audio_tf: bool) -> tuple[torch.Tensor, list[str]]:
    """The checkpoint's patch kernel for our tokenizer: axes, input channels, patch size."""
    how = []
    w = w.float()
    if audio_tf:
        w = w.transpose(-1, -2)          # AudioMAE kernel over (time, freq) → ours over (freq, time)
        how.append("kernel transposed from AudioMAE's (time, freq) to our (freq, time) spectrogram")
    C = getattr(spec, "in_chans", 1)
    if w.shape[1] != C:
        old_c = int(w.shape[1])
        if C == 1:
            w = w.sum(dim=1, keepdim=True)
            how.append(f"{old_c} input channels summed into 1 (as timm adapt_input_conv)")
        else:
            w = w.mean(dim=1, keepdim=True).repeat_interleave(C, dim=1)
            how.append(f"{C} input channels from the mean of the checkpoint's {old_c}")
    p = getattr(spec, "patch_size", None)
    if p and w.shape[-1] != p:
        old = tuple(w.shape[-2:])
        if w.dim() == 5:
            d, c, t = w.shape[:3]
            w = resample_patch_embed(w.reshape(d, c * t, *old), [p, p]).reshape(d, c, t, p, p)
        else:
            w = resample_patch_embed(w, [p, p])
        how.append(f"patch {old[0]}×{old[1]} resampled to {p}×{p} (timm resample_patch_embed)")
    return w, how


def _adapt_pos(c: Canonical, model: MultimodalViT, audio_tf: bool, layout: str) -> tuple[Optional[torch.Tensor], str]:
    """The checkpoint's position table for our token grid: (1, 1 + N, D), and how it was made."""
    ours = model.pos_embed
    grid = getattr(model.tokenizer, "grid_size", None)
    pos = c.tensors.get("pos_embed")
    if model.tokenizer.adds_positions:           # point clouds: only the cls slot (Point-MAE cls_pos)
        return (pos.float(), c.how.get("pos_embed", "")) if pos is not None and pos.shape == ours.shape else (None, "")
    if pos is None:
        if layout == "videomae":
            table = ours.detach().clone()
            table[:, 1:] = sinusoid_table(model.tokenizer.num_tokens, ours.shape[-1])
            return table, ("VideoMAE's fixed sinusoid table (not stored in its checkpoints), computed for "
                           f"{model.tokenizer.num_tokens} tokens; the cls slot stays at its init")
        return None, ""
    P = _pos_slots(c, audio_tf)
    pos = pos.float()
    prefix, patches = pos[:, :min(P, 1)], pos[:, P:]
    how = []
    if P > 1:
        how.append(f"{P - 1} extra prefix slot(s) (distillation / register tokens) dropped")
    if P == 0 and "cls_token" in c.tensors:   # timm no_embed_class: the class token gets no position
        prefix = torch.zeros_like(ours[:, :1])
        how.append("no class slot in the table (timm no_embed_class, e.g. DeiT III): the cls slot is 0, "
                   "as timm adds no position to the class token (exact)")
    elif P == 0:
        prefix = ours.detach()[:, :1].clone()
        how.append("no class token in the checkpoint: the cls slot stays at its init")
    n = patches.shape[1]
    if len(grid) == 3:                           # learned video table: only usable at the same length
        if n != model.tokenizer.num_tokens:
            raise CheckpointError(f"The checkpoint's video position table has {n} entries, expected "
                                  f"{model.tokenizer.num_tokens} for the {grid} tubelet grid; use its native input size.")
        old = None
    elif audio_tf:      # frequency rows: the target's own grid when the table has exactly its size (our
        # AudioMAE exports), else AudioMAE's 8 (128 mel bins / 16)
        f = grid[0] if n == grid[0] * grid[1] else 8 if n % 8 == 0 else int(math.isqrt(n))
        t = n // f
        patches = patches.reshape(1, t, f, -1).transpose(1, 2).reshape(1, n, -1)   # (T, F) grid → (F, T)
        old = (f, t)
        how.append(f"AudioMAE's (time {t}, freq {f}) grid transposed to (freq, time)")
    else:
        side = int(math.isqrt(n))
        if side * side != n:
            raise CheckpointError(f"The checkpoint's position table has {n} patch entries, not a square grid; "
                                  f"expected a square image grid (or an AudioMAE spectrogram with modality='audio').")
        old = (side, side)
    if old is not None and tuple(old) != tuple(grid):
        patches = resample_abs_pos_embed(patches, new_size=list(grid), old_size=list(old), num_prefix_tokens=0)
        how.append(f"resampled from {old[0]}×{old[1]} to {grid[0]}×{grid[1]} (bicubic, timm resample_abs_pos_embed)")
    return torch.cat([prefix, patches], dim=1), "; ".join(how)


def load_pretrained_target(source: Any, num_classes: int, modality: Optional[str] = None,
                           input: Union[None, InputSpec, dict] = None, *, num_heads: Optional[int] = None,
                           class_names: Optional[list[str]] = None, dataset: Optional[str] = None,
                           global_pool: Optional[str] = None, container: Optional[str] = None,
                           prefix: Optional[str] = None, audio_axes: Optional[str] = None
                           ) -> tuple[MultimodalViT, LoadReport]:
    """A MultimodalViT target initialised from pretrained ViT weights, and the LoadReport.

    Args:
        source: a checkpoint path, a Hugging Face name (from the local cache), a state dict (or a
            training checkpoint dict) or an nn.Module (timm / DeiT / MAE / AudioMAE / Point-MAE /
            VideoMAE / official M2PT layouts).
        num_classes: outputs of the new head.
        modality: the target's modality (default: guessed from the checkpoint).
        input: an InputSpec (e.g. a dataset's; the checkpoint's patch size is kept) or a dict of
            input fields to change.
        num_heads, class_names, dataset, global_pool: model fields the checkpoint does not say.
        container, prefix: which entry / key prefix of the file holds the encoder.
        audio_axes: "time-freq" (AudioMAE, default for 1-channel checkpoints) or "freq-time".
    Returns:
        (model, LoadReport): the report lists every key loaded, reshaped, skipped or left at init."""
    src = read_source(source, container)
    canon = canonicalize(src.state_dict, prefix)
    if canon.layout == "m2pt":
        from .own import load_own_target
        return load_own_target(src, canon, num_classes, input, class_names, dataset)
    D, depth, mlp = _shape(canon, src.name)
    heads, heads_from = heads_for(D, src, num_heads)
    w = canon.tensors.get("patch_embed.proj.weight")
    modality = check_modality(modality or _LAYOUT_MODALITY.get(canon.layout) or
                              ("video" if w is not None and w.dim() == 5 else "image"))
    _check_fits(canon, modality, w, src.name)
    audio_tf = modality == "audio" and (audio_axes or "time-freq") == "time-freq"
    notes = list(src.notes) + list(canon.notes) + [f"{heads} heads, from {heads_from}"]
    if canon.layout == "pointmae":
        notes.append("Point-MAE adds the centre positions before every block; this model adds them once, in the "
                     "tokenizer, so the loaded blocks are a starting point to fine-tune, not the same function")
    spec = _target_spec(_native_spec(canon, modality, w, audio_tf), modality, input, notes)
    fc_norm = "fc_norm.weight" in canon.tensors and "norm.weight" not in canon.tensors
    pool = global_pool or ("avg" if fc_norm or canon.layout == "videomae" else "token")
    if class_names is not None and len(class_names) != num_classes:
        raise CheckpointError(f"class_names has {len(class_names)} names but num_classes is {num_classes}.")
    config = ModelConfig(size=_size_label(D, depth, heads, mlp), modality=modality, num_classes=num_classes,
                         embed_dim=D, depth=depth, num_heads=heads, mlp_dim=mlp, input=spec,
                         class_names=class_names, global_pool=pool, fc_norm=fc_norm, dataset=dataset)
    model = MultimodalViT(config)
    report = LoadReport(src.name, canon.layout, notes=notes, config=config.to_dict())

    mapped, used = _mapped_tensors(canon, model, modality, spec, w, audio_tf)
    fill_model(model, mapped, report, canon, src.name, adopt=src.private)
    for k, key in ((k, canon.origin.get(k, k)) for k in canon.tensors if not k.startswith("_") and k not in used):
        report.skipped[key] = "not used by this target (e.g. norm vs fc_norm)"
    report.skipped.update(canon.skipped)
    attach_loaded_pathways(model, canon, report)
    return model, report


def _mapped_tensors(canon: Canonical, model: MultimodalViT, modality: str, spec: Any, w: Optional[torch.Tensor],
                    audio_tf: bool) -> tuple[dict[str, tuple[torch.Tensor, str, str]], set[str]]:
    """Our key → (tensor, checkpoint key, how it was adapted) for every tensor the target takes
    (the patch embedding and positions adapted to ``spec``; a missing qkv bias as exact zeros),
    and the canonical keys used."""
    mapped: dict[str, tuple[torch.Tensor, str, str]] = {}
    used: set[str] = set()
    patch_key = "tokenizer.proj" if modality == "video" else "tokenizer.patch.proj"
    if w is not None and modality != "pointcloud":
        pw, how = _adapt_patch(w, spec, audio_tf)
        mapped[f"{patch_key}.weight"] = (pw, canon.origin["patch_embed.proj.weight"], "; ".join(how))
        if "patch_embed.proj.bias" in canon.tensors:
            mapped[f"{patch_key}.bias"] = (canon.tensors["patch_embed.proj.bias"], canon.origin["patch_embed.proj.bias"], "")
        used |= {"patch_embed.proj.weight", "patch_embed.proj.bias"}
    pos, how = _adapt_pos(canon, model, audio_tf, canon.layout)
    if pos is not None:
        mapped["pos_embed"] = (pos, canon.origin.get("pos_embed", "(computed)"), how)
    used.add("pos_embed")
    for k, t in canon.tensors.items():
        if k.startswith(("blocks.", "norm.", "fc_norm.")) or k == "cls_token":
            mapped[k] = (t, canon.origin[k], canon.how.get(k, ""))
            used.add(k)
    D = model.config.embed_dim
    for i in range(model.config.depth):          # no qkv bias in the checkpoint (Point-MAE, VideoMAE without q/v bias)
        k = f"blocks.{i}.attn.qkv.bias"
        if k not in mapped:
            mapped[k] = (torch.zeros(3 * D), "(none)", "zeros: the checkpoint's attention has no qkv bias (exact)")
    return mapped, used


def _check_fits(c: Canonical, modality: str, w: Optional[torch.Tensor], name: str) -> None:
    if c.layout == "pointmae" and modality != "pointcloud":
        raise CheckpointError(f"{name} is a Point-MAE (point cloud) checkpoint; expected modality='pointcloud', got {modality!r}.")
    if w is None:
        if modality != "pointcloud":
            raise CheckpointError(f"{name} has no patch embedding ('patch_embed.proj.weight'), expected one for a "
                                  f"{modality} target.")
        return
    if w.dim() == 5 and modality != "video":
        raise CheckpointError(f"{name} has a 3-D (tubelet) patch embedding {tuple(w.shape)}, a video model; "
                              f"expected modality='video', got {modality!r}.")
    if w.dim() == 4 and modality not in ("image", "audio"):
        raise CheckpointError(f"{name} has a 2-D patch embedding {tuple(w.shape)} (image or audio); "
                              f"a {modality} target needs {'a Conv3d tubelet' if modality == 'video' else 'point groups'}.")
