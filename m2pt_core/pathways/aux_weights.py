"""AuxWeights: the auxiliary model's per-block linear weights in one canonical form, plus the
mapping from the state-dict layouts people actually have (timm / MAE family / BERT) onto it.

Canonical key: (layer index, component), component one of COMPONENTS; value W' of shape (out, in).
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Optional

import torch

from ..errors import CheckpointError

COMPONENTS: tuple[str, ...] = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


@dataclass
class AuxWeights:
    weights: dict[tuple[int, str], torch.Tensor]
    source: str = "unknown"
    modality: Optional[str] = None
    layout: str = "vit"            # which layout matched: vit, vit-split-qkv, bert, pathway, m2pt-official
    notes: list[str] = field(default_factory=list)

    @property
    def layers(self) -> list[int]:
        return sorted({i for i, _ in self.weights})

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def width(self) -> Optional[int]:
        w = self.weights.get((self.layers[0], "attn.qkv")) if self.weights else None
        return None if w is None else int(w.shape[1])

    def get(self, layer: int, component: str) -> Optional[torch.Tensor]:
        return self.weights.get((layer, component))

    def describe(self) -> dict:
        return {"source": self.source, "modality": self.modality, "layout": self.layout,
                "depth": self.depth, "width": self.width}

    def sha256(self) -> str:
        """Identity of the weights themselves (not of the file or name they came from): runs that
        used equal W' compare equal, whatever the path they were loaded from."""
        h = hashlib.sha256()
        for (i, comp), w in sorted(self.weights.items()):
            t = w.detach().to("cpu", torch.float32).contiguous()
            h.update(f"{i}:{comp}:{tuple(t.shape)};".encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()


# ViT family (timm, MAE, AudioMAE, VideoMAE, Point-MAE, ours): "<prefix>blocks.<i>.<component>.<kind>"
# The prefix is empty or ends with "."; "decoder_blocks" therefore never matches.
# kind: weight; or a pathway's aux_weight with lam (ours) / cross_modal_scale (official M2PT,
# AILab-CVC/M2PT multimodal_pathway.py CrossModalReparamLinear).
_VIT = re.compile(r"^(?P<prefix>(?:.*\.)?)blocks\.(?P<i>\d+)\.(?P<comp>attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(?P<kind>weight|aux_weight|lam|cross_modal_scale)$")
# Layer scale (timm LayerScale ``ls1/ls2.gamma``: DeiT III, CaiT-style; BEiT / VideoMAE ``gamma_1/_2``):
# the block computes x + γ ⊙ (W h + b), so the layer's effective weight is diag(γ) W. W' is that
# effective weight, the same rule the pretrained-target loader applies (pretrained/layouts.py):
# a checkpoint gives the same W for a target as W' for an auxiliary.
_VIT_GAMMA = re.compile(r"^(?P<prefix>(?:.*\.)?)blocks\.(?P<i>\d+)\.(?P<name>ls1\.gamma|ls2\.gamma|gamma_1|gamma_2)$")
_GAMMA_TARGET = {"ls1.gamma": "attn.proj", "gamma_1": "attn.proj", "ls2.gamma": "mlp.fc2", "gamma_2": "mlp.fc2"}
# Separate q/k/v projections (some ViT variants): "<prefix>blocks.<i>.attn.q[_proj].weight"
_VIT_QKV = re.compile(r"^(?P<prefix>(?:.*\.)?)blocks\.(?P<i>\d+)\.attn\.(?P<part>q|k|v)(?:_proj)?\.weight$")
# BERT family: "<prefix>layer.<i>.attention.self.query.weight" etc.
_BERT = re.compile(
    r"^(?P<prefix>(?:.*\.)?)layer\.(?P<i>\d+)\.(?P<name>attention\.self\.(?:query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)\.weight$"
)
_BERT_TO_COMPONENT = {"attention.output.dense": "attn.proj", "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2"}


def _choose_prefix(by_prefix: Mapping[str, dict], prefix: Optional[str], notes: list[str]) -> Optional[str]:
    """Pick which sub-model of a checkpoint holds the encoder blocks (MAE checkpoints also hold a
    decoder; Point-MAE nests `MAE_encoder.blocks.blocks.<i>`)."""
    if not by_prefix:
        return None
    if prefix is not None:
        if prefix not in by_prefix:
            raise CheckpointError(f"No transformer blocks under prefix {prefix!r}; found prefixes {sorted(by_prefix)}.")
        return prefix
    candidates = [p for p in by_prefix if "decoder" not in p.lower()] or list(by_prefix)
    candidates.sort(key=lambda p: (-len({i for i, _ in by_prefix[p]}), "encoder" not in p.lower(), len(p)))
    if len(by_prefix) > 1:
        notes.append(f"several block groups found {sorted(by_prefix)}; used {candidates[0]!r} (pass prefix= to choose)")
    return candidates[0]


def _map_vit(sd: Mapping[str, torch.Tensor], prefix: Optional[str], notes: list[str]) -> tuple[dict, str]:
    groups: dict[str, dict] = defaultdict(dict)
    gammas: dict[str, dict[tuple[int, str], torch.Tensor]] = defaultdict(dict)   # prefix → (block, comp) → γ (out,)
    for key, value in sd.items():
        m = _VIT.match(key)
        if m:
            groups[m["prefix"]][(int(m["i"]), m["comp"], m["kind"])] = value
            continue
        m = _VIT_QKV.match(key)
        if m:
            groups[m["prefix"]][(int(m["i"]), "attn.qkv", m["part"])] = value
            continue
        m = _VIT_GAMMA.match(key)
        if m:
            gammas[m["prefix"]][(int(m["i"]), _GAMMA_TARGET[m["name"]])] = value
    by_prefix = {p: {(i, c) for i, c, _ in g} for p, g in groups.items()}
    chosen = _choose_prefix(by_prefix, prefix, notes)
    if chosen is None:
        return {}, "vit"
    g = groups[chosen]
    out: dict[tuple[int, str], torch.Tensor] = {}
    layout = "vit"
    for (i, comp) in sorted(by_prefix[chosen]):
        if (i, comp, "weight") in g:
            w = g[(i, comp, "weight")].float()
            scale = g.get((i, comp, "lam"), g.get((i, comp, "cross_modal_scale")))
            if (i, comp, "aux_weight") in g and scale is not None:
                # An M2PT model used as auxiliary contributes its effective weight W + λW'.
                w = w + scale.float().reshape(()) * g[(i, comp, "aux_weight")].float()
                layout = "pathway" if (i, comp, "lam") in g else "m2pt-official"
            elif (i, comp, "aux_weight") in g:
                notes.append(f"block {i} {comp} has aux_weight but no lam / cross_modal_scale: its bare W is used")
            out[(i, comp)] = w
        elif all((i, comp, part) in g for part in "qkv"):
            out[(i, comp)] = torch.cat([g[(i, comp, part)].float() for part in "qkv"], dim=0)
            layout = "vit-split-qkv"
    for (i, comp), gamma in gammas[chosen].items():
        if (i, comp) in out:
            out[(i, comp)] = gamma.float()[:, None] * out[(i, comp)]      # diag(γ) W: (out, in)
    if gammas[chosen]:
        notes.append("layer scale γ folded into attn.proj / mlp.fc2: W' = diag(γ)·W, as for a target (exact)")
    return out, layout


def _map_bert(sd: Mapping[str, torch.Tensor], prefix: Optional[str], notes: list[str]) -> dict:
    groups: dict[str, dict] = defaultdict(dict)
    for key, value in sd.items():
        m = _BERT.match(key)
        if m:
            groups[m["prefix"]][(int(m["i"]), m["name"])] = value
    by_prefix = {p: {(i, n) for i, n in g} for p, g in groups.items()}
    chosen = _choose_prefix(by_prefix, prefix, notes)
    if chosen is None:
        return {}
    g = groups[chosen]
    out: dict[tuple[int, str], torch.Tensor] = {}
    for i in sorted({i for i, _ in g}):
        qkv = [g.get((i, f"attention.self.{p}")) for p in ("query", "key", "value")]
        if all(t is not None for t in qkv):
            out[(i, "attn.qkv")] = torch.cat([t.float() for t in qkv], dim=0)  # (3D, D), q;k;v as timm
        for name, comp in _BERT_TO_COMPONENT.items():
            if (i, name) in g:
                out[(i, comp)] = g[(i, name)].float()
    return out


def aux_from_state_dict(sd: Mapping[str, torch.Tensor], source: str = "state dict",
                        modality: Optional[str] = None, prefix: Optional[str] = None,
                        notes: Optional[list[str]] = None) -> AuxWeights:
    """Map any supported state-dict layout onto canonical per-block weights.

    Raises CheckpointError when no transformer block weights are recognised."""
    notes: list[str] = list(notes or [])
    clean = {}
    for k, v in sd.items():                      # DDP's "module." prefixes, also nested ones
        if isinstance(v, torch.Tensor):
            while k.startswith("module."):
                k = k[len("module."):]
            clean[k.replace(".module.", ".")] = v
    sd = clean
    weights, layout = _map_vit(sd, prefix, notes)
    if not weights:
        weights, layout = _map_bert(sd, prefix, notes), "bert"
    if not weights:
        sample = ", ".join(list(sd)[:5]) or "(no tensors)"
        raise CheckpointError(
            f"No transformer block weights recognised in {source}: expected keys like "
            f"'blocks.0.attn.qkv.weight' (timm / MAE family) or 'encoder.layer.0.attention.self.query.weight' "
            f"(BERT); found keys such as {sample}."
        )
    layers = sorted({i for i, _ in weights})
    if layers != list(range(len(layers))):
        notes.append(f"block indices are not contiguous from 0: {layers}")
    for i in layers:
        missing = [c for c in COMPONENTS if (i, c) not in weights]
        if missing:
            notes.append(f"block {i} has no {', '.join(missing)}")
    return AuxWeights(weights, source=source, modality=modality, layout=layout, notes=notes)
