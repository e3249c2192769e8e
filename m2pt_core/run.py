"""One training run on a registered dataset, from names alone (what `m2pt train` does).

aux may be: None / "none" (baseline), a zoo name, a checkpoint path, "minilm-l6", "random"
(Gaussian weights with the per-layer Frobenius norm of the target's own initial weights) or
"random:SOURCE" (norm-matched to SOURCE: the random-weights control)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from torch import nn

from . import zoo
from .model import MultimodalViT, create_model
from .pathways import attach_pathways, load_aux, random_aux_like
from .pathways.aux_weights import COMPONENTS
from .train import FitResult, TrainConfig, evaluate, fit
from .train.rng import seeded


@dataclass
class RunResult:
    model: MultimodalViT
    fit: FitResult
    test: dict[str, float]


def resolve_aux(aux: Optional[str], target: nn.Module, seed: int = 0) -> Any:
    """What to attach for an --aux value (None: no pathway)."""
    if aux is None or aux.lower() in ("", "none"):
        return None
    if aux == "random":
        return random_aux_like(load_aux(target), seed)
    if aux.startswith("random:"):
        return random_aux_like(load_aux(aux.split(":", 1)[1], resolve=zoo.resolve), seed)
    return load_aux(aux, resolve=zoo.resolve)


def train_on_dataset(dataset: str, size: str = "demo", aux: Optional[str] = None,
                     config: Optional[TrainConfig] = None, aux_trainable: bool = True,
                     lambda_init: float = 0.0, data_size: Optional[int] = None,
                     data_seed: int = 0, components: Sequence[str] = COMPONENTS) -> RunResult:
    """Build a fresh ``size`` model for ``dataset``, attach ``aux`` pathways, train, test."""
    from .data import load_dataset

    config = config or TrainConfig()
    splits = {s: load_dataset(dataset, s, seed=data_seed, size=data_size) for s in ("train", "val", "test")}
    train = splits["train"]
    with seeded(config.seed):   # the init draws from the run's own seeded stream
        model = create_model(size, train.modality, len(train.classes), input=train.spec,
                             class_names=list(train.classes), dataset=dataset)
    source = resolve_aux(aux, model, config.seed)
    if source is not None:
        report = attach_pathways(model, source, components=components, lambda_init=lambda_init,
                                 aux_trainable=aux_trainable)
        if config.progress:
            print(report, flush=True)
    result = fit(model, train, splits["val"], config)
    test = evaluate(model, splits["test"], config.eval_batch_size)
    return RunResult(model, result, test)
