"""The positive control: an auxiliary of the target's own modality, kept apart from its evaluation items.

A cross-modal auxiliary is judged against two controls: random weights of the same per-layer norm
(pathways/random_aux.py: what extra parameters of that scale do) and this one, whose weights carry
real knowledge of the target's task. Where a cross-modal result falls between them is the
transfer ratio (analysis/power.py, ``transfer_ratio``). The positive control must never have seen
the items the target is scored on: that is checked by content (the preprocessed input tensors),
not by item names.

Knowledge in W' is written in the basis of the model it was trained in. The pathway adds λW' to a
target whose patch embedding, position embedding and head are its own, so a same-modality model
from ANOTHER initialisation carries its knowledge in an unrelated basis and may not help at all
(docs/results.md, "Calibrating the instrument"). A positive control that shares the target's
basis is one trained from the same initialisation as the target of each seed: name it with a
``{seed}`` placeholder (``runs/pos/baseline-seed{seed}/model.safetensors``), one file per seed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import zoo
from .data.overlap import content_overlap
from .data.provenance import DataProvenance, load_from_provenance, model_provenance
from .errors import M2PTError
from .pathways import AuxWeights, load_aux


@dataclass
class PositiveControl:
    name: str
    weights: AuxWeights
    checked: bool            # False: the auxiliary records no training data, so nothing could be checked
    note: str                # one sentence for tables, the CLI and the Ablation tab


def training_provenance(name: str) -> Optional[DataProvenance]:
    """The training data recorded in one of our checkpoints (a zoo name or a path); None otherwise.

    Reads only the safetensors header (the metadata), never the weights: the auxiliary may be ViT-B."""
    import json
    from types import SimpleNamespace
    from safetensors import safe_open
    path = zoo.resolve(name)
    path = path if path is not None else Path(name)
    if not path.is_file() or path.suffix != ".safetensors":
        return None
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        return None                                   # not one of our checkpoints: nothing recorded
    record = SimpleNamespace(data_provenance=json.loads(meta["data"]) if "data" in meta else None,
                             config=SimpleNamespace(dataset=json.loads(meta["config"]).get("dataset")))
    return model_provenance(record)


def positive_control(name: str, splits: dict[str, Any]) -> PositiveControl:
    """Load ``name`` as the positive control of a target whose data are ``splits`` (train / val / test).

    Raises M2PTError when it is of another modality than the target, or when any val / test item of
    the target is (by content) one of its training items."""
    weights = load_aux(name, resolve=zoo.resolve)
    target = splits["train"]
    if weights.modality not in (None, "", target.modality):
        raise M2PTError(f"The positive control must be of the target's modality ({target.modality}); "
                        f"{name} is a {weights.modality} model. Name an auxiliary trained on other {target.modality} data.")
    evals = [splits[s] for s in ("val", "test") if s in splits]
    n_eval = sum(len(d) for d in evals)
    prov = training_provenance(name)
    if prov is None:
        return PositiveControl(name, weights, False, f"{name}: no training data recorded, so its overlap with the "
                                                     f"target's {n_eval} evaluation items could not be checked")
    aux_train = load_from_provenance(prov, "train", target.spec)
    shared = content_overlap(aux_train, evals)
    if shared:
        raise M2PTError(f"The positive control {name} was trained on {shared} of the target's {n_eval} val/test "
                        f"items (same content); its gain would be memory, not transfer. Name an auxiliary "
                        f"trained on other items, or score the target on other splits.")
    return PositiveControl(name, weights, True, f"{name}: none of the target's {n_eval} val/test items is among its "
                                                f"{len(aux_train)} training items (checked by content)")


SEED_PLACEHOLDER = "{seed}"


def positive_controls(name: str, seeds: list[int], splits: dict[str, Any]) -> dict[int, PositiveControl]:
    """The positive control of every seed: ``name`` itself for all seeds, or, when it contains
    "{seed}", the file of each seed (each checked like ``positive_control``)."""
    if SEED_PLACEHOLDER not in name:
        one = positive_control(name, splits)
        return {int(s): one for s in seeds}
    out = {}
    for s in seeds:
        path = name.replace(SEED_PLACEHOLDER, str(s))
        if not Path(path).is_file() and zoo.resolve(path) is None:
            raise M2PTError(f"No positive control for seed {s}: {path} does not exist (from {name!r}; one file "
                            f"per seed, '{{seed}}' replaced by the seed).")
        out[int(s)] = positive_control(path, splits)
    return out
