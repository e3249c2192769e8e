"""Export: fold the pathways into a plain model (the target's exact architecture), check the
outputs against the pathway model, and write safetensors + a config.json beside it; for a session,
with the provenance of its open model (what it is, where it comes from, what was edited)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..errors import M2PTError
from ..pathways import count_parameters, get_lambdas, merge_pathways, pathway_modules, verify_merge
from .sources import NO_AUX

if TYPE_CHECKING:
    from .session import ExplorerSession


def export_merged(model: nn.Module, out_dir: Path, stem: str, inputs: Optional[torch.Tensor] = None,
                  provenance: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Merge a copy of ``model`` (λ as now) and save it. Returns paths, the verified max output
    difference on ``inputs`` (random inputs of the model's shape when None; None when there were
    no pathways, so nothing to verify), the number of inputs compared and parameter counts.
    ``provenance`` goes into the checkpoint's metadata and a ``.provenance.json`` beside it."""
    config = getattr(model, "config", None)
    if config is None:
        raise M2PTError("Only MultimodalViT models (with a config) can be exported from the dashboard.")
    lambdas = get_lambdas(model)
    merged = copy.deepcopy(model)
    try:
        merge_pathways(merged, safe=True)
    except ValueError as e:
        raise M2PTError(f"Cannot export: {e}") from None
    if inputs is None:
        inputs = torch.randn(8, *config.input.input_shape, generator=torch.Generator().manual_seed(0))
    max_diff = verify_merge(model, merged, inputs) if pathway_modules(model) else None
    out_dir.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"merged_lambdas": lambdas, "merge_max_abs_diff": max_diff}
    if provenance is not None:
        extra["provenance"] = provenance
    path = save_checkpoint(merged, out_dir / f"{stem}-merged.safetensors", config=config, extra=extra)
    config_path = out_dir / f"{stem}-merged.config.json"
    config_path.write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    prov_path = None
    if provenance is not None:
        prov_path = out_dir / f"{stem}-merged.provenance.json"
        prov_path.write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return {"path": path, "config_path": config_path, "provenance_path": prov_path, "max_abs_diff": max_diff,
            "verified_on": len(inputs) if max_diff is not None else 0, "pathways_merged": len(lambdas),
            "params_with_pathways": count_parameters(model)[1] + sum(
                m.aux_weight.numel() for m in pathway_modules(model).values() if not m.aux_trainable),
            "params_merged": count_parameters(merged)[1]}


def session_provenance(s: "ExplorerSession") -> dict[str, Any]:
    """Where the open model comes from and what was done to it in this session (for exports)."""
    from ..version import __version__
    from ..data import model_provenance
    model = s.require_model()
    prov = model_provenance(model)
    aux = s.aux_name if s.aux_name and s.aux_name != NO_AUX else None
    return {"target": s.target_name, "target_sha256": s.sources.sha256(s.target_name),
            "auxiliary": aux, "auxiliary_sha256": s.sources.sha256(aux) if aux else None,
            "lambdas": get_lambdas(model), "learned_lambdas": dict(s.lambdas.learned),
            "lambdas_edited": s.lambdas.edited(),
            "opened_with": list(s.notes),   # e.g. "the target's own pathways were merged into its weights"
            "data_provenance": prov.to_dict() if prov is not None else None,
            "app": "M2PT Explorer", "app_version": __version__}


def export_session(s: "ExplorerSession", out_dir: Union[str, Path]) -> dict[str, Any]:
    """Merge the pathways (λ as now) into a plain model, verify it, write safetensors + config +
    provenance; the file names say whether λ are as learned or edited in this session."""
    with s.lock:
        model = s.require_model()
        stem = (s.target_name or "model").replace(" ", "_").replace("·", "").replace("/", "_").replace(":", "")
        if pathway_modules(model):
            stem += "-edited-lambda" if s.lambdas.edited() else "-learned-lambda"
        inputs = s.data.X[:64] if s.data is not None else None
        return export_merged(model, Path(out_dir), stem, inputs, provenance=session_provenance(s))
