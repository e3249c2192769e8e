"""ModelConfig: everything needed to rebuild a model. It travels inside every checkpoint as JSON."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from .modalities import InputSpec, check_modality, default_spec, spec_from_dict, spec_to_dict
from .sizes import ModelSize, get_size


@dataclass
class ModelConfig:
    size: str
    modality: str
    num_classes: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    input: InputSpec
    class_names: Optional[list[str]] = None
    drop_path_rate: float = 0.0
    global_pool: str = "token"   # "token" (cls) or "avg" (mean of patch tokens)
    # True: LayerNorm after pooling (timm's fc_norm, MAE / VideoMAE fine-tuning) instead of on every token.
    fc_norm: bool = False
    dataset: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input"] = spec_to_dict(self.input)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        d["input"] = spec_from_dict(d["modality"], d.get("input", {}))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def model_size(self) -> ModelSize:
        return ModelSize(self.embed_dim, self.depth, self.num_heads, self.mlp_dim)


_SIZE_FIELDS = ("embed_dim", "depth", "num_heads", "mlp_dim")
_MODEL_FIELDS = ("class_names", "drop_path_rate", "global_pool", "fc_norm", "dataset")


def make_config(size: str, modality: str, num_classes: int, **overrides: Any) -> ModelConfig:
    """Build a config from a named size and modality. ``overrides`` may replace size fields
    (embed_dim, depth, num_heads, mlp_dim), model fields (class_names, drop_path_rate, global_pool,
    fc_norm, dataset), or fields of the modality's input spec (img_size, patch_size, n_mels, ...)."""
    check_modality(modality)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}.")
    base = get_size(size)
    size_kw = {k: overrides.pop(k, getattr(base, k)) for k in _SIZE_FIELDS}
    model_kw = {k: overrides.pop(k) for k in _MODEL_FIELDS if k in overrides}
    spec = overrides.pop("input", None) or default_spec(modality, **overrides)
    if size_kw["embed_dim"] % size_kw["num_heads"]:
        raise ValueError(f"embed_dim {size_kw['embed_dim']} must be divisible by num_heads {size_kw['num_heads']}.")
    names = model_kw.get("class_names")
    if names is not None and len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but num_classes is {num_classes}.")
    return ModelConfig(size=size, modality=modality, num_classes=num_classes, input=spec, **size_kw, **model_kw)
