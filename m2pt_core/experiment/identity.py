"""A run's identity: everything that affects its result (RunRequest's and TrainConfig's declared
fields, run_identity.py, plus the data provenance), and the hash that names it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from ..pathways import AuxWeights
from ..run_identity import OMIT, Role, check_declared, environment, run_field, spec_of
from ..train import TrainConfig
from ..train.config import recipe_of

RUN_FORMAT = "m2pt-run/3"   # 3: spec derived from the fields' declarations (run_identity.py)


def run_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def _recipe(req: "RunRequest") -> dict[str, Any]:
    """The config's result fields with the run's seed, and the environment its numbers depend on."""
    from ..device import pick_device
    recipe = {**recipe_of(replace(req.config, seed=req.seed)), **environment(pick_device(req.config.device).type)}
    if req.arm == "baseline":
        recipe["lambda_lr_scale"] = None   # no λ to train: the baseline is the same run at any λ lr
    return recipe


def _pathway_option(value: Callable[["RunRequest"], Any]) -> Callable[["RunRequest"], Any]:
    """Pathway options mean nothing without pathways: a baseline is the same run whatever they are."""
    return lambda req: None if req.arm == "baseline" else value(req)


def _init_identity(req: "RunRequest") -> Any:
    from ..train.init import init_fingerprint
    return OMIT if req.init is None else init_fingerprint(req.init)


@check_declared
@dataclass
class RunRequest:
    """One training run: arm (baseline/m2pt/random/frozen), the auxiliary's name and the weights to
    attach (None for the baseline), the seed (target init and data order), the recipe, and where.
    Each field declares its part in the run's identity (run_identity.py; ``request_spec``)."""
    target_dataset: str = run_field(role=Role.DERIVED, note="through the data provenance (kind, size, seed, "
                                    "split rule, file fingerprint), not its path: moved data is the same data")
    arm: str = run_field(role=Role.RESULT)
    aux: Optional[str] = run_field(role=Role.NONE, note="display name; the weights enter as aux_sha256")
    source: Optional[AuxWeights] = run_field(role=Role.RESULT, key="aux_sha256",
                                             spec=lambda r: r.source.sha256() if r.source is not None else None)
    seed: int = run_field(role=Role.DERIVED, note="enters as recipe.seed (the run's config seed)")
    size: str = run_field(role=Role.RESULT, key="model_size")
    config: TrainConfig = run_field(role=Role.RESULT, key="recipe", spec=_recipe)
    lambda_init: float = run_field(role=Role.RESULT, spec=_pathway_option(lambda r: r.lambda_init))
    out_dir: Path = run_field(role=Role.NONE)
    name: str = run_field(role=Role.NONE, note="run folder prefix, e.g. m2pt-audio-sounds")
    pathways: Optional[dict[str, Any]] = run_field(      # subset for attach_pathways (layers/components/aux_layers)
        None, Role.RESULT, spec=lambda r: OMIT if r.pathways is None or r.arm == "baseline" else r.pathways)
    init: Optional[str] = run_field(None, Role.RESULT, "pretrained target weights (train/init.py), by content",
                                    spec=_init_identity)
    data_seed: int = run_field(0, Role.DERIVED, "through the data provenance (its seed)")
    data_size: Optional[int] = run_field(None, Role.DERIVED, "through the data provenance (size, subset)")
    num_heads: Optional[int] = run_field(None, Role.RESULT, "attention heads of an init checkpoint",
                                         spec=lambda r: OMIT if r.init is None else r.num_heads)


def data_identity(data: dict[str, Any]) -> dict[str, Any]:
    """A run's data provenance without where the files lie (their fingerprint identifies them)."""
    return {k: v for k, v in data.items() if not (k == "name" and data.get("fingerprint"))}


def request_spec(req: RunRequest, data: dict) -> dict[str, Any]:
    """Everything that affects the run's result (from the declarations of RunRequest and TrainConfig,
    plus the data provenance): a finished run is reused only when all of it matches."""
    return {"format": RUN_FORMAT, "data": data_identity(data), **spec_of(req)}
