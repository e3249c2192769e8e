"""Pretrained ViT state-dict layouts, detected and rewritten into one canonical (timm) naming.

Where each layout comes from (key names read in those projects' code):
  timm      timm/models/vision_transformer.py: patch_embed.proj, cls_token, pos_embed (1, 1+N, D),
            blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2, optional ls1/ls2.gamma
            (layer scale), norm, or fc_norm with global_pool='avg' (norm is then Identity), head.
  deit      timm/models/deit.py VisionTransformerDistilled: also dist_token and head_dist; the
            pos_embed then has 2 prefix slots (cls, dist).
  mae       facebookresearch/mae models_mae.py: encoder keys as timm plus mask_token, decoder_embed,
            decoder_pos_embed, decoder_blocks.*, decoder_norm, decoder_pred; util/misc.py saves
            {'model', 'optimizer', 'epoch', 'scaler', 'args' (argparse.Namespace)}.
            models_vit.py (fine-tuned): fc_norm instead of norm when global_pool.
  audiomae  facebookresearch/AudioMAE models_vit.py / models_mae.py: as MAE with in_chans=1 over a
            (time=1024, freq=128) spectrogram, i.e. a (T/16=64, F/16=8) patch grid, time-major.
  pointmae  Pang-Yatian/Point-MAE models/Point_MAE.py: checkpoints {'base_model': ...}; pre-training
            keys MAE_encoder.{encoder.first_conv/second_conv (Conv1d+BatchNorm1d), pos_embed (MLP),
            blocks.blocks.{i}.* (qkv without bias), norm}, MAE_decoder.*, mask_token, increase_dim;
            fine-tuned PointTransformer: cls_token, cls_pos, encoder.*, pos_embed.*, blocks.blocks.*.
  videomae  MCG-NJU/VideoMAE modeling_finetune.py / modeling_pretrain.py: patch_embed.proj is a
            Conv3d (D, C, tubelet, p, p); attn.qkv has no bias but attn.q_bias / attn.v_bias; fixed
            sinusoid pos_embed not stored; optional gamma_1/gamma_2 (layer scale); pre-training keys
            under encoder.* beside decoder.*, encoder_to_decoder, mask_token; files hold 'model' or 'module'.
  m2pt-official  AILab-CVC/M2PT multimodal_pathway.py CrossModalReparamLinear: beside weight/bias
            each reparameterised linear holds aux_weight and cross_modal_scale (shape (1,)).
  m2pt      our own MultimodalViT checkpoints (tokenizer.*, pathways as aux_weight + lam).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import torch

from ..errors import CheckpointError

COMPONENTS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
_BLOCK = re.compile(r"^(?P<root>(?:.*\.)?)blocks\.(?P<i>\d+)\.(?P<rest>.+)$")
_POINT_BLOCK = re.compile(r"^(?P<root>(?:.*\.)?)blocks\.blocks\.(?P<i>\d+)\.(?P<rest>.+)$")
_PLAIN = re.compile(r"^(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")
_HEAD = ("head.", "head_dist.", "cls_head_finetune.", "pre_logits.", "fc.")
_PRETRAIN_ONLY = ("mask_token", "decoder", "encoder_to_decoder", "increase_dim", "MAE_decoder")


@dataclass
class Canonical:
    """A checkpoint rewritten into canonical (timm) keys, with where each came from."""
    layout: str
    tensors: dict[str, torch.Tensor]            # canonical key → tensor
    origin: dict[str, str]                      # canonical key → checkpoint key(s)
    how: dict[str, str] = field(default_factory=dict)    # canonical key → rewrite already applied
    skipped: dict[str, str] = field(default_factory=dict)  # checkpoint key → why unused
    notes: list[str] = field(default_factory=list)
    pathways: dict[str, dict[str, tuple[str, torch.Tensor]]] = field(default_factory=dict)  # "blocks.i.comp" → {aux, scale}
    root: str = ""

    @property
    def depth(self) -> int:
        return len({int(k.split(".")[1]) for k in self.tensors if k.startswith("blocks.")})


def strip_module_prefix(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors only, with DDP's 'module.' prefixes (also nested ones) removed; and new key → original key."""
    out, original = {}, {}
    for key, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        k = key
        while k.startswith("module."):
            k = k[len("module."):]
        k = k.replace(".module.", ".")
        out[k], original[k] = v, key
    return out, original


def _choose_root(sd: Mapping[str, torch.Tensor], prefix: Optional[str], notes: list[str]) -> tuple[str, bool]:
    """(root prefix of the encoder, is Point-MAE's nested blocks.blocks layout)."""
    point = defaultdict(set)
    vit = defaultdict(set)
    for k in sd:
        m = _POINT_BLOCK.match(k)
        if m:
            point[m["root"]].add(int(m["i"]))
            continue
        m = _BLOCK.match(k)
        if m:
            vit[m["root"]].add(int(m["i"]))
    groups = {**{r: (ix, False) for r, ix in vit.items()}, **{r: (ix, True) for r, ix in point.items()}}
    if not groups:
        sample = ", ".join(list(sd)[:6]) or "(no tensors)"
        raise CheckpointError(f"No ViT encoder blocks found: expected keys like 'blocks.0.attn.qkv.weight' "
                              f"(timm / MAE / VideoMAE) or 'MAE_encoder.blocks.blocks.0.attn.qkv.weight' "
                              f"(Point-MAE); found keys such as {sample}.")
    if prefix is not None:
        if prefix not in groups:
            raise CheckpointError(f"No encoder blocks under prefix {prefix!r}; found block groups {sorted(groups)}.")
        return prefix, groups[prefix][1]
    names = [r for r in groups if "decoder" not in r.lower()] or list(groups)
    names.sort(key=lambda r: (-len(groups[r][0]), "encoder" not in r.lower(), len(r)))
    if len(groups) > 1:
        notes.append(f"several block groups found {sorted(groups)}; used {names[0]!r} as the encoder "
                     f"(pass prefix= to choose another)")
    return names[0], groups[names[0]][1]


def _skip_reason(key: str) -> str:
    rel = key.rsplit(".", 1)[0] if "." in key else key
    if any(p in key for p in _PRETRAIN_ONLY):
        return "pre-training only (MAE decoder / mask token): not part of the encoder"
    if key.startswith(_HEAD) or any(f".{h}" in key for h in ("head.", "head_dist.", "cls_head_finetune.")):
        return "the checkpoint's own classifier: a new head is made for your classes"
    return f"not part of a ViT encoder this loader maps ({rel})"


@dataclass
class _Rewrite:
    """A canonicalization in progress: the checkpoint's tensors (DDP prefixes stripped) and what
    has been made of each so far."""
    sd: dict[str, torch.Tensor]
    original: dict[str, str]                    # stripped key → the checkpoint's key
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    extra: dict[tuple[int, str], tuple[str, torch.Tensor]] = field(default_factory=dict)   # (block, part) → (key, tensor)
    pathways: dict[str, dict[str, tuple[str, torch.Tensor]]] = field(default_factory=lambda: defaultdict(dict))

    def put(self, canon: str, key: str) -> bool:
        self.tensors[canon], self.origin[canon] = self.sd[key], self.original[key]
        return True

    def skip(self, key: str, why: str) -> bool:
        self.skipped[self.original[key]] = why
        return True


# A rule rewrites one key relative to the encoder root (rel, the stripped checkpoint key) and says
# whether it took it. Every format starts with its own rules, then the common ones.
Rule = Callable[[_Rewrite, str, str], bool]
_LAYER_SCALE = ("ls1.gamma", "ls2.gamma", "gamma_1", "gamma_2")
_STEM = ("patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "norm.weight", "norm.bias",
         "fc_norm.weight", "fc_norm.bias")


def _block_part(rw: _Rewrite, i: int, rest: str, key: str, extras: tuple[str, ...]) -> bool:
    """One key of block i: plain timm layers, the format's extras (kept for a post step), pathways."""
    if _PLAIN.match(rest):
        return rw.put(f"blocks.{i}.{rest}", key)
    if rest in extras:
        rw.extra[(i, rest)] = (rw.original[key], rw.sd[key])
        return True
    comp, _, kind = rest.rpartition(".")
    if comp in COMPONENTS and kind in ("aux_weight", "cross_modal_scale", "lam"):
        rw.pathways[f"blocks.{i}.{comp}"]["aux" if kind == "aux_weight" else "scale"] = (rw.original[key], rw.sd[key])
        return True
    return rw.skip(key, f"block part this loader does not map ({rest})")


def _blocks(pattern: re.Pattern, extras: tuple[str, ...]) -> Rule:
    def rule(rw: _Rewrite, rel: str, key: str) -> bool:
        m = pattern.match(rel)
        return bool(m and m["root"] == "") and _block_part(rw, int(m["i"]), m["rest"], key, extras)
    return rule


def _stem(rw: _Rewrite, rel: str, key: str) -> bool:
    if rel in _STEM or (rel == "pos_embed" and rw.sd[key].dim() == 3):
        return rw.put(rel, key)
    if rel == "reg_token":
        rw.tensors["_reg_tokens"] = rw.sd[key]
        return rw.skip(key, "register tokens are not supported by this model (their position slots are dropped)")
    return False


def _tokenizer(rw: _Rewrite, rel: str, key: str) -> bool:
    return rel.startswith("tokenizer.") and rw.put(rel, key)


def _dist_token(rw: _Rewrite, rel: str, key: str) -> bool:
    if rel != "dist_token":
        return False
    rw.tensors["_dist_token"] = rw.sd[key]
    return rw.skip(key, "DeiT distillation token: this model has one class token (its position slot is dropped too)")


def _point_stem(rw: _Rewrite, rel: str, key: str) -> bool:
    if rel == "cls_pos":
        rw.how["pos_embed"] = "Point-MAE's cls_pos (the class token's position)"
        return rw.put("pos_embed", key)
    if rel.startswith(("encoder.", "pos_embed.")):
        return rw.skip(key, "Point-MAE's group encoder / position MLP (Conv1d + BatchNorm1d + ReLU, hidden 128) "
                            "differs from our PointGroupEmbed (Linear + LayerNorm + GELU): not mapped")
    return False


def _merge_qv_bias(rw: _Rewrite) -> None:
    """VideoMAE / BEiT: q and v biases only; the k bias is zero (VideoMAE modeling_finetune.py Attention)."""
    for i in sorted({i for i, n in rw.extra if n in ("attn.q_bias", "attn.v_bias")}):
        (kq, q), (kv, v) = rw.extra[(i, "attn.q_bias")], rw.extra[(i, "attn.v_bias")]
        rw.tensors[f"blocks.{i}.attn.qkv.bias"] = torch.cat([q, torch.zeros_like(v), v])
        rw.origin[f"blocks.{i}.attn.qkv.bias"] = f"{kq} + {kv}"
        rw.how[f"blocks.{i}.attn.qkv.bias"] = "[q_bias, 0, v_bias] (no k bias, as VideoMAE computes it)"


def _fold_layer_scale(rw: _Rewrite) -> None:
    """Layer scale x + γ·f(x): folded exactly into the last linear layer of f (W ← diag(γ)W, b ← γb)."""
    for (i, name), (key, gamma) in rw.extra.items():
        if name not in _LAYER_SCALE:
            continue
        target = "attn.proj" if name in ("ls1.gamma", "gamma_1") else "mlp.fc2"
        for kind in ("weight", "bias"):
            k = f"blocks.{i}.{target}.{kind}"
            if k not in rw.tensors:
                raise CheckpointError(f"Layer scale {key} found but {k} is missing; expected both.")
            g = gamma.float()[:, None] if kind == "weight" else gamma.float()
            rw.tensors[k] = rw.tensors[k].float() * g
            rw.origin[k] = f"{rw.origin[k]} × {key}"
            rw.how[k] = f"layer scale {name} folded in (exact)"


@dataclass(frozen=True)
class _Format:
    """One source format: its own rules (before the common stem rule) and its block extras."""
    rules: tuple[Rule, ...] = ()
    extras: tuple[str, ...] = _LAYER_SCALE
    nested_blocks: bool = False                  # Point-MAE's blocks.blocks.{i}


FORMATS: dict[str, _Format] = {
    "timm": _Format(), "mae": _Format(), "audiomae": _Format(), "m2pt-official": _Format(),
    "deit-distilled": _Format(rules=(_dist_token,)),
    "videomae": _Format(extras=_LAYER_SCALE + ("attn.q_bias", "attn.v_bias")),
    "pointmae": _Format(rules=(_point_stem,), extras=(), nested_blocks=True),
    "m2pt": _Format(rules=(_tokenizer,), extras=()),
}


def detect_layout(sd: Mapping[str, torch.Tensor], point: bool, root: str) -> str:
    """Which source format a checkpoint is (a key of FORMATS), from its keys under ``root``."""
    rel = {k[len(root):]: v for k, v in sd.items() if k.startswith(root)}
    if any(k.startswith("tokenizer.") for k in rel):
        return "m2pt"
    if any(k.endswith(".cross_modal_scale") and _BLOCK.match(k) for k in rel):
        return "m2pt-official"
    if point:
        return "pointmae"
    w = rel.get("patch_embed.proj.weight")
    if (w is not None and w.dim() == 5) or any(k.endswith("attn.q_bias") for k in sd):
        return "videomae"
    if "dist_token" in rel:
        return "deit-distilled"
    if any(p in k for k in sd for p in ("decoder_", "mask_token")):
        return "audiomae" if w is not None and w.shape[1] == 1 else "mae"
    return "timm"


def canonicalize(sd: Mapping[str, Any], prefix: Optional[str] = None) -> Canonical:
    """Rewrite a pretrained state dict into canonical keys (see module doc): find the encoder,
    detect the format, then run that format's rules on every key (as timm's checkpoint_filter_fn)."""
    sd, original = strip_module_prefix(sd)
    notes: list[str] = []
    root, point = _choose_root(sd, prefix, notes)
    layout = detect_layout(sd, point, root)
    fmt = FORMATS[layout]
    rules = (*fmt.rules, _blocks(_POINT_BLOCK if fmt.nested_blocks else _BLOCK, fmt.extras), _stem)
    rw = _Rewrite(sd, original)
    for key in sd:
        if not key.startswith(root):
            why = _skip_reason(key)
            rw.skip(key, f"outside the encoder ({root!r})" if why.startswith("not part") else why)
            continue
        rel = key[len(root):]
        if not any(rule(rw, rel, key) for rule in rules):
            rw.skip(key, _skip_reason(rel))
    _merge_qv_bias(rw)
    _fold_layer_scale(rw)
    for name, parts in rw.pathways.items():
        if "aux" not in parts or "scale" not in parts:
            raise CheckpointError(f"Pathway {name} has {sorted(parts)} but needs both aux_weight and "
                                  f"cross_modal_scale (official M2PT) or lam (ours).")
    return Canonical(layout, rw.tensors, rw.origin, rw.how, rw.skipped, notes, dict(rw.pathways), root)


def sinusoid_table(n_position: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed position table (modeling_finetune.py get_sinusoid_encoding_table): (1, N, D)."""
    pos = torch.arange(n_position, dtype=torch.float64)[:, None]
    j = torch.arange(dim)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), 2 * (j // 2) / dim)
    table = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float().unsqueeze(0)
