"""Train a baseline and an M2PT model on one dataset with the same recipe and seed, small
enough for a CPU dashboard (a subset and a few epochs), reporting progress and stoppable."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..analysis.intervals import PairedComparison, paired_comparison
from ..errors import M2PTError
from ..model import create_model
from ..pathways import attach_pathways
from ..pathways.aux_weights import AuxWeights
from ..scores import item_correct
from ..train import TrainConfig, evaluate, fit
from ..train.init import pretrained_target_for
from ..train.rng import seeded


@dataclass
class TrainRequest:
    """Dashboard defaults: ~1,000 items, 3 epochs, demo size → well under a minute per arm on 2 CPU cores
    for images (audio, point clouds and video take a few times longer per step)."""
    dataset: str = "mnist5k"
    aux: str = "audio-sounds"
    epochs: int = 3
    data_size: int = 1000
    lambda_lr_scale: float = TrainConfig.lambda_lr_scale   # the library's measured default
    aux_trainable: bool = True
    size: str = "demo"
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    init: Optional[str] = None          # pretrained starting weights of both arms' target (train/init.py)
    num_heads: Optional[int] = None     # only for an init checkpoint of non-standard width

    def check(self) -> None:
        problems = []
        if not 1 <= self.epochs <= 50:
            problems.append(f"epochs must be between 1 and 50, got {self.epochs}")
        if not 100 <= self.data_size <= 20000:
            problems.append(f"subset size must be between 100 and 20000 items, got {self.data_size}")
        if not 0 <= self.lambda_lr_scale <= 1000:
            problems.append(f"λ lr scale must be between 0 and 1000, got {self.lambda_lr_scale}")
        if problems:
            raise M2PTError("Invalid training settings: " + "; ".join(problems) + ".")


Event = dict[str, Any]
# Below this many validation items a 95% interval on an accuracy is wider than ±10 points.
MIN_MEASURABLE_VAL = 96


def accuracy_halfwidth(n: int) -> float:
    """Worst-case (p = 0.5) half-width of a 95% normal interval on an accuracy over n items."""
    return 1.96 * math.sqrt(0.25 / max(n, 1))


def measurement_warning(n_val: int, n_classes: int) -> Optional[str]:
    """A sentence when the validation split is too small to tell models apart, else None."""
    if n_val >= MIN_MEASURABLE_VAL:
        return None
    return (f"Only {n_val} validation items: an accuracy measured on them is uncertain by about "
            f"±{100 * accuracy_halfwidth(n_val):.0f} points (95%), and chance level is "
            f"{100 / max(n_classes, 1):.0f}%, so baseline and M2PT cannot be told apart. Use a larger subset "
            f"(≥ {MIN_MEASURABLE_VAL} validation items) to measure anything.")


def at_chance(acc: Optional[float], n: int, n_classes: int) -> bool:
    """Whether an accuracy on n items is within its 95% interval of chance (1 / classes)."""
    return acc is not None and abs(acc - 1 / max(n_classes, 1)) <= accuracy_halfwidth(n)


_SECONDS_PER_ITEM: dict[tuple[str, str], float] = {}   # (size, modality) → measured here, once per process


def seconds_per_item(size: str, modality: str, n_classes: int = 10, batch: int = 8) -> float:
    """One training step's seconds per item for a model of ``size`` on ``modality``, timed on this
    machine (a warm-up step, then the faster of two; well under a second at demo size)."""
    import time
    from ..modalities import default_spec
    from ..train import build_optimizer
    key = (size, modality)
    if key not in _SECONDS_PER_ITEM:
        with seeded(0):
            model = create_model(size, modality, n_classes)
            x = torch.randn(batch, *default_spec(modality).input_shape)        # (B, ...) one batch
            y = torch.randint(0, n_classes, (batch,))
        opt = build_optimizer(model, TrainConfig())
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t0)
        _SECONDS_PER_ITEM[key] = min(times[1:]) / batch
    return _SECONDS_PER_ITEM[key]


def estimate_train_seconds(req: TrainRequest, modality: str, n_items: int) -> float:
    """Seconds train_pair(req) should take here on ``n_items`` files: both arms' epochs over the
    train split (70%) plus their validation and test passes (forward only, ~1/3 of a step)."""
    items = min(n_items, req.data_size)
    train_items, held_out = 0.7 * items, 0.3 * items
    return 2 * seconds_per_item(req.size, modality) * (req.epochs * train_items + (req.epochs + 1) * held_out / 3)


def paired_test(baseline: nn.Module, m2pt: nn.Module, test: Any) -> Optional[PairedComparison]:
    """M2PT against the baseline on the same test items: each accuracy's Wilson interval, the
    paired bootstrap interval of the difference, McNemar's p (one seed: item noise only).
    None when the test split is empty (a handful of files)."""
    if len(test) == 0:
        return None
    from ..train.batches import iterate
    correct: list[list[torch.Tensor]] = [[], []]
    with torch.inference_mode():                 # in-memory and lazy (file) datasets alike, batch by batch
        for x, y in iterate(test, torch.arange(len(test)), 128):
            for k, m in enumerate((baseline, m2pt)):
                correct[k].append(item_correct(m.eval()(x), y).float())        # (B,)
    return paired_comparison(torch.cat(correct[0]), torch.cat(correct[1]))


def result_markdown(res: dict[str, Any], aux: str, elapsed_s: float) -> str:
    """The Train tab's result: both test accuracies with n and 95% intervals, and the paired
    difference with its interval, labelled as one seed."""
    c: Optional[PairedComparison] = res["comparison"]
    if c is None:
        return (f"### Result ({elapsed_s:.0f} s)\nThe test split is empty (too few files), so nothing was measured; "
                "use a larger dataset.")

    def cell(i) -> str:
        return f"{100 * i.estimate:.2f}% ({100 * i.lo:.1f}–{100 * i.hi:.1f}%)"
    return (f"### Result ({elapsed_s:.0f} s)\n| | test accuracy (95% CI), {c.n} test items |\n|---|---|\n"
            f"| baseline | {cell(c.acc_a)} |\n| M2PT ({aux}) | {cell(c.acc_b)} |\n\n"
            f"{c.describe('M2PT − baseline:')}. One seed: this interval covers the choice of test items, "
            "not training noise (the Ablation tab repeats runs over seeds).")


def train_pair(req: TrainRequest, aux: AuxWeights, on_event: Optional[Callable[[Event], None]] = None,
               should_stop: Callable[[], bool] = lambda: False, work_dir: Optional[Path] = None,
               resume: bool = False) -> dict[str, Any]:
    """Train baseline then M2PT (pathways to ``aux``) from the same initialisation, on a built-in
    dataset or the user's files (``req.dataset``: anything ``open_dataset`` takes).

    Every random draw (init, shuffling, dropout) comes from streams seeded by ``req.seed`` and owned
    by this call, so jobs running at once in one process give what each gives alone.

    on_event gets fit's events with "arm" added (and one {"event": "warning"} when the validation
    split is too small to measure anything); training stops at the next step once should_stop()
    is true. Returns {"baseline", "m2pt" (models), "histories" (finished epochs), "stopped"} and,
    when not stopped, "test", "data_size", "settings". With ``work_dir`` each arm keeps its
    last finished epoch there, and ``resume=True`` continues a stopped run from it."""
    req.check()
    splits, size = _pair_splits(req)
    train = splits["train"]
    warning = measurement_warning(len(splits["val"]), len(train.classes))
    if warning and on_event is not None:
        on_event({"event": "warning", "message": warning, "val_items": len(splits["val"])})
    m2pt = _fresh_target(req, splits, size)
    attach_pathways(m2pt, aux, aux_trainable=req.aux_trainable)   # fails before any training on a mismatch
    m2pt.pathway_info["source"] = aux.source
    models = {"baseline": _fresh_target(req, splits, size), "m2pt": m2pt}
    histories, test = {}, {}
    for k, (arm, model) in enumerate(models.items()):
        result = _fit_arm(req, model, arm, k, splits, on_event, should_stop, work_dir, resume)
        histories[arm] = result.history
        if result.cancelled:
            return {**models, "histories": histories, "stopped": True, "stopped_arm": arm,
                    "val_items": len(splits["val"])}
        test[arm] = evaluate(model, splits["test"])
        for p in model.parameters():
            p.requires_grad_(False)
    return {**models, "histories": histories, "test": test, "data_size": size, "stopped": False,
            "comparison": paired_test(models["baseline"], models["m2pt"], splits["test"]),
            "val_items": len(splits["val"]), "num_classes": len(train.classes),
            "settings": {k: v for k, v in asdict(req).items() if k not in ("dataset", "aux")}}


def _pair_splits(req: TrainRequest) -> tuple[dict[str, Any], Optional[int]]:
    """The three splits of ``req.dataset`` and the size they were cut at (None: all the user's files)."""
    from ..data import open_dataset
    from ..data.sources import is_builtin
    size = req.data_size
    if not is_builtin(req.dataset):   # the user's files: a subset only when there are more than asked for
        files = open_dataset(req.dataset, "all", seed=0, prepare=False).provenance.extra["files"]
        size = size if size < files else None
    splits = {s: open_dataset(req.dataset, s, seed=0, size=size) for s in ("train", "val", "test")}
    if req.init:   # the pretrained target's input spec may re-read the splits
        with seeded(req.seed):   # its throwaway head leaves the global RNG alone
            splits = pretrained_target_for(req.init, req.dataset, splits, 0, size, req.num_heads, False)[1]
    return splits, size


def _fresh_target(req: TrainRequest, splits: dict[str, Any], size: Optional[int]) -> nn.Module:
    """The same target initialisation for both arms, drawn from this job's own seeded stream:
    another job in the server neither moves it nor is moved by it."""
    train = splits["train"]
    with seeded(req.seed):
        if req.init:   # pretrained weights; the new head is drawn from the seeded stream
            return pretrained_target_for(req.init, req.dataset, splits, 0, size, req.num_heads, False)[0]
        return create_model(req.size, train.modality, len(train.classes), input=train.spec,
                            class_names=list(train.classes), dataset=req.dataset)


def _fit_arm(req: TrainRequest, model: nn.Module, arm: str, k: int, splits: dict[str, Any],
             on_event: Optional[Callable[[Event], None]], should_stop: Callable[[], bool],
             work_dir: Optional[Path], resume: bool) -> Any:
    """fit one arm, its events tagged with the arm; stops at the next step once should_stop()."""
    cfg = TrainConfig(epochs=req.epochs, batch_size=req.batch_size, lr=req.lr, warmup_epochs=0.5,
                      lambda_lr_scale=req.lambda_lr_scale, seed=req.seed, device="cpu", progress=False,
                      out_dir=str(Path(work_dir) / arm) if work_dir is not None else None,
                      resume=resume and work_dir is not None)

    def callback(event: Event) -> bool:
        if on_event is not None:
            on_event({**event, "arm": arm, "arm_index": k, "arms": 2})
        return not should_stop()
    return fit(model, splits["train"], splits["val"], cfg, progress_callback=callback)
