"""What every run of an experiment or an ablation is built from, in one place: the three splits
(with a pretrained target's input spec and size), the part of the train split an arm trains on,
the auxiliaries, each arm's auxiliary weights and its run-folder label."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from .. import zoo
from ..pathways import AuxWeights, load_aux
from ..pathways.random_aux import random_aux_like
from ..train.rng import seeded

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


@dataclass
class OpenedSplits:
    splits: dict[str, Any]              # "train" / "val" / "test" → dataset
    size: str                           # the model size (a pretrained target's, when init is given)
    depth: Optional[int] = None         # a pretrained target's depth (None: the size's)


def open_splits(target: str, data_seed: int, data_size: Optional[int], modality: Optional[str], size: str,
                init: Optional[str] = None, num_heads: Optional[int] = None, progress: bool = True) -> OpenedSplits:
    """The train / val / test splits of ``target`` (anything ``data.open_dataset`` opens). With
    ``init`` (pretrained target weights, train/init.py) its input spec may re-read the splits, and
    its size and depth replace ``size``; its throwaway head leaves the global RNG alone."""
    from ..data import open_dataset  # the data package registers its datasets on import
    splits = {s: open_dataset(target, s, seed=data_seed, size=data_size, modality=modality)
              for s in ("train", "val", "test")}
    if init is None:
        return OpenedSplits(splits, size)
    from ..train.init import pretrained_target_for
    with seeded(data_seed):
        first, splits, _ = pretrained_target_for(init, target, splits, data_seed, data_size, num_heads, progress)
    return OpenedSplits(splits, first.config.size, first.config.depth)


def with_train_fraction(splits: dict[str, Any], fraction: float, data_seed: int) -> dict[str, Any]:
    """The splits with a stratified part of the train split (data/fraction.py); val and test unchanged."""
    from ..data.fraction import train_fraction
    return {**splits, "train": train_fraction(splits["train"], fraction, data_seed)}


def load_auxiliaries(names: Iterable[str]) -> dict[str, AuxWeights]:
    """Each auxiliary (zoo name, checkpoint path or "minilm-l6") loaded once."""
    return {a: load_aux(a, resolve=zoo.resolve) for a in names}


def arm_source(kind: str, weights: Optional[AuxWeights], seed: int) -> Optional[AuxWeights]:
    """The weights an arm of ``kind`` attaches: none for the baseline, random weights with the
    auxiliary's per-layer norms (drawn from ``seed``) for the random control, else the auxiliary's."""
    if kind == "baseline":
        return None
    return random_aux_like(weights, seed) if kind == "random" else weights


def aux_label(aux: Optional[str]) -> str:
    """How an auxiliary names run folders: a checkpoint file by its stem, else its name ("none")."""
    if not aux:
        return "none"
    return Path(aux).stem if Path(aux).suffix in CHECKPOINT_SUFFIXES else aux


def run_name(arm: str, aux: Optional[str]) -> str:
    """The run-folder prefix of an arm and its auxiliary, e.g. m2pt-audio-sounds, layer=2-image-mnist5k."""
    return f"{arm}-{aux_label(aux)}".replace(",", "_").replace("=", "")
