"""One training run on a registered dataset, from names alone (what `m2pt train` does).

aux may be: None / "none" (baseline), a zoo name, a checkpoint path, "minilm-l6", "random"
(Gaussian weights with the per-layer Frobenius norm of the target's own initial weights) or
"random:SOURCE" (norm-matched to SOURCE: the random-weights control)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from torch import nn

from . import zoo
from .model import MultimodalViT, create_model
from .pathways import attach_pathways, load_aux, random_aux_like
from .pathways.merge import settle_existing_pathways
from .pathways.aux_weights import COMPONENTS
from .train import FitResult, TrainConfig, ddp, evaluate, fit
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
                     data_seed: int = 0, components: Sequence[str] = COMPONENTS,
                     modality: Optional[str] = None, init: Optional[str] = None, aux_layers: Any = None,
                     num_heads: Optional[int] = None, layers: Optional[Sequence[int]] = None,
                     existing_pathways: Optional[str] = None) -> RunResult:
    """Build a fresh ``size`` model for ``dataset`` (a built-in name, a folder, a CSV manifest or an
    archive: see ``open_dataset``), or one from pretrained weights ``init`` (its size then follows the
    checkpoint), attach ``aux`` pathways (to target blocks ``layers``, default all), train, test.
    existing_pathways: 'merge' or 'replace' the pathways an ``init`` checkpoint already has before
    ``aux`` is attached (see ``settle_existing_pathways``)."""
    from .data import open_dataset
    from .data.lazy import SKIPPED_FILE, write_skipped

    config = config or TrainConfig()
    splits = {s: open_dataset(dataset, s, seed=data_seed, size=data_size, modality=modality) for s in ("train", "val", "test")}
    train = splits["train"]
    if init is not None:   # pretrained target: see train/init.py
        from .train.init import pretrained_target_for
        with seeded(config.seed):   # the new head draws from the run's own seeded stream
            model, splits, _ = pretrained_target_for(init, dataset, splits, data_seed, data_size, num_heads,
                                                     config.progress)
        train = splits["train"]
    else:
        with seeded(config.seed):   # the init draws from the run's own seeded stream
            model = create_model(size, train.modality, len(train.classes), input=train.spec,
                                 class_names=list(train.classes), dataset=dataset)
    source = resolve_aux(aux, model, config.seed)
    if source is not None:
        settle_existing_pathways(model, existing_pathways)
        report = attach_pathways(model, source, components=components, lambda_init=lambda_init,
                                 aux_trainable=aux_trainable, aux_layers=aux_layers, layers=layers)
        if config.progress:
            print(report, flush=True)
    result = fit(model, train, splits["val"], config)
    test = evaluate(model, splits["test"], config.eval_batch_size)
    if config.out_dir and ddp.is_main():   # the files the run could not use, beside its log
        write_skipped(Path(config.out_dir) / SKIPPED_FILE, splits)
    return RunResult(model, result, test)
