"""run_experiment: arms × auxiliaries × train fractions × seeds, one run each, one tidy table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import pandas as pd

from ..train import TrainConfig
from .identity import RunRequest
from .one_run import RESULT_COLUMNS, train_run
from .setup import arm_source, load_auxiliaries, open_splits, run_name, with_train_fraction

ARMS = ("baseline", "m2pt", "random", "frozen", "positive")


def _plan(arms: Sequence[str], auxiliaries: Sequence[str],
          positive_aux: Optional[str] = None) -> list[tuple[str, Optional[str]]]:
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise ValueError(f"Unknown arm(s) {bad}; expected some of {list(ARMS)}.")
    if any(a not in ("baseline", "positive") for a in arms) and not auxiliaries:
        raise ValueError("The m2pt / random / frozen arms need at least one auxiliary.")
    if "positive" in arms and not positive_aux:
        raise ValueError("The positive arm needs positive_aux (CLI --positive-aux): an auxiliary of the target's "
                         "own modality trained on other items, e.g. image-mnist5k for an mnist5k target.")
    plan: list[tuple[str, Optional[str]]] = [("baseline", None)] if "baseline" in arms else []
    if "positive" in arms:
        plan.append(("positive", positive_aux))
    for aux in auxiliaries:
        plan += [(arm, aux) for arm in arms if arm not in ("baseline", "positive")]
    return plan


def run_experiment(target_dataset: str, auxiliaries: Iterable[str] = (),
                   arms: Sequence[str] = ("baseline", "m2pt", "random"), seeds: Sequence[int] = (0, 1, 2),
                   config: Optional[TrainConfig] = None, size: str = "demo",
                   out_dir: Union[str, Path] = "runs/experiment", data_size: Optional[int] = None,
                   lambda_init: float = 0.0, data_seed: int = 0, progress: bool = True,
                   modality: Optional[str] = None, init: Optional[str] = None,
                   num_heads: Optional[int] = None, positive_aux: Optional[str] = None,
                   train_fractions: Sequence[float] = (1.0,)) -> pd.DataFrame:
    """Train every (arm, auxiliary) × train fraction × seed on ``target_dataset``; one row per run.

    auxiliaries: zoo names, checkpoint paths or "minilm-l6". data_size: items across all splits
    (a smaller subset keeps the CPU cost bounded). A run's folder is named by a hash of everything
    that affects its result (``request_spec``: recipe, data provenance, auxiliary weights by sha256,
    model size, λ init, ...), so a finished run is reused, and an interrupted one resumed, only when all of
    that matches; any change runs anew. Writes ``out_dir/results.csv`` with each run's full recipe.
    init: pretrained starting weights of every arm's target (see train/init.py; size follows them).
    positive_aux: the positive control (arm "positive"): an auxiliary of the target's modality that
    never saw its val / test items (checked by content, controls.py). train_fractions: stratified
    parts of the train split (data/fraction.py); val and test are the same items for every fraction."""
    config = config or TrainConfig()
    out_dir = Path(out_dir)
    auxiliaries = list(auxiliaries)
    plan = _plan(arms, auxiliaries, positive_aux)
    opened = open_splits(target_dataset, data_seed, data_size, modality, size, init, num_heads, progress)
    aux_cache = load_auxiliaries(auxiliaries)
    if "positive" in arms:
        from ..controls import positive_control
        control = positive_control(positive_aux, opened.splits)
        aux_cache[positive_aux] = control.weights
        if progress:
            print(f"[positive control] {control.note}", flush=True)
    rows: list[dict[str, Any]] = []
    for fraction in train_fractions:
        part = with_train_fraction(opened.splits, fraction, data_seed)
        for seed in seeds:
            for arm, aux in plan:
                source = arm_source(arm, aux_cache.get(aux), seed)
                row = train_run(RunRequest(target_dataset, arm, aux, source, seed, opened.size, config, lambda_init,
                                           out_dir, run_name(arm, aux), init=init, data_seed=data_seed,
                                           data_size=data_size, num_heads=num_heads), part, progress=progress)
                rows.append(row)
                out_dir.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(out_dir / "results.csv", index=False)  # every run
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
