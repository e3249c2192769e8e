"""Copying mapped tensors into a new target, accounting for every key, and loading pathways."""
from __future__ import annotations

from ..errors import CheckpointError
from ..model import MultimodalViT
from ..pathways.layer import PathwayLinear
from .layouts import Canonical
from .report import LoadReport


def fill_model(model: MultimodalViT, mapped: dict, report: LoadReport, canon: Canonical, name: str,
               adopt: bool = False) -> None:
    """Copy ``mapped`` into the model; report every model key as loaded / reshaped / left at init.

    adopt: the tensors were read from a file here and nobody else holds them, so they become the
    model's parameters without a copy (the freshly initialised ones are freed): loading then peaks
    at about one copy of the weights instead of two (safetensors files are memory-mapped, their
    pages copied on write, so training never writes into the file)."""
    own = model.state_dict()
    state = {}
    seen: set[int] = set()
    for k, target in own.items():
        if k not in mapped:
            report.left_at_init[k] = _init_reason(k, canon, model)
            continue
        t, src_key, how = mapped[k]
        if tuple(t.shape) != tuple(target.shape):
            raise CheckpointError(f"{name}: {src_key} has shape {tuple(t.shape)} but {k} needs {tuple(target.shape)}.")
        t = t.to(target.dtype)
        if adopt and t.untyped_storage().data_ptr() in seen:
            t = t.clone()                          # one file tensor feeding two parameters: no tying
        seen.add(t.untyped_storage().data_ptr())
        state[k] = t
        if how:
            report.reshaped[k] = (src_key, how)
        else:
            report.loaded[k] = src_key
    model.load_state_dict(state, strict=False, assign=adopt)


def _init_reason(k: str, canon: Canonical, model: MultimodalViT) -> str:
    if k.startswith("head."):
        return f"new head for {model.num_classes} classes"
    if k.startswith("tokenizer.") and canon.layout == "pointmae":
        return "Point-MAE's group encoder has a different structure (Conv1d + BatchNorm1d + ReLU); ours starts fresh"
    if k in ("cls_token", "pos_embed") and canon.layout == "pointmae":
        return "Point-MAE pre-training has no class token (its fine-tuned PointTransformer adds cls_token / cls_pos)"
    if k == "cls_token":
        return "the checkpoint has no class token"
    return "no matching key in the checkpoint"


def attach_loaded_pathways(model: MultimodalViT, canon: Canonical, report: LoadReport) -> None:
    """Official M2PT (aux_weight + cross_modal_scale) or our pathways (aux_weight + lam) as pathways."""
    for name, parts in sorted(canon.pathways.items()):
        (ka, aux), (ks, scale) = parts["aux"], parts["scale"]
        parent, _, child = name.rpartition(".")
        base = model.get_submodule(name)
        layer = PathwayLinear(base, aux.float(), lambda_init=float(scale.reshape(-1)[0]), aux_trainable=True)
        setattr(model.get_submodule(parent), child, layer)
        report.loaded[f"{name}.aux_weight"] = ka
        report.loaded[f"{name}.lam"] = ks
    if canon.pathways:
        model.pathway_info = {"source": report.source, "modality": None, "layout": canon.layout,
                              "aux_trainable": True, "lambda_init": None}
        report.notes.append(f"{len(canon.pathways)} pathways loaded (W, λ and W'), as trained")
