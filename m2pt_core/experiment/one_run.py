"""One run: build the target of its seed (pathways attached), train or reuse / resume it in its
folder, score it on the test split (per item too). The one per-run body of experiments and ablations."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Optional

import torch

from ..model import create_model
from ..pathways import attach_pathways
from ..safe_io import atomic_write_text
from ..train import evaluate, fit
from ..train.rng import seeded
from .folders import TEST_ITEMS_FILE, _claim_run_dir, run_dir_of, tensorboard_dir
from .identity import RunRequest, request_spec, run_id

RESULT_COLUMNS = ["arm", "aux", "seed", "test_acc", "val_acc", "test_loss", "test_n", "train_time_s",
                  "lam_mean", "lam_abs_mean", "lam_min", "lam_max", "epochs", "run_dir",
                  "run_id", "aux_sha256", "model_size", "data", "recipe", "train_fraction", "train_n"]


def _lambda_stats(lams: dict[str, float]) -> dict[str, Optional[float]]:
    if not lams:
        return {"lam_mean": None, "lam_abs_mean": None, "lam_min": None, "lam_max": None}
    v = torch.tensor(list(lams.values()))
    return {"lam_mean": float(v.mean()), "lam_abs_mean": float(v.abs().mean()),
            "lam_min": float(v.min()), "lam_max": float(v.max())}


def build_model(req: RunRequest, train: Any, splits: Optional[dict[str, Any]] = None) -> torch.nn.Module:
    """The target model of ``req.seed`` (the same initial weights for every arm of that seed; with
    ``req.init``, those pretrained weights and a seeded head: then ``splits`` are needed), with the
    requested pathways attached."""
    with seeded(req.seed):   # same target init for every arm of this seed; global RNG untouched
        if req.init is not None:
            from ..train.init import pretrained_target_for
            model = pretrained_target_for(req.init, req.target_dataset, splits or {"train": train}, req.data_seed,
                                          req.data_size, req.num_heads, False)[0]
        else:
            model = create_model(req.size, train.modality, len(train.classes), input=train.spec,
                                 class_names=list(train.classes), dataset=req.target_dataset)
    if req.source is not None:
        attach_pathways(model, req.source, lambda_init=req.lambda_init, aux_trainable=req.arm != "frozen",
                        **(req.pathways or {}))
    return model


def _test_items(model: torch.nn.Module, test: Any, batch_size: int) -> dict[str, list]:
    """Per-item correctness and loss on the test split (for paired intervals between runs)."""
    from ..analysis.compare import per_item_results
    correct, loss = per_item_results(model, test, batch_size=batch_size)   # (N,) bool, (N,) fp32
    return {"correct": correct.int().tolist(), "loss": [round(float(v), 6) for v in loss]}


def train_run(req: RunRequest, splits: dict[str, Any], progress: bool = True,
              progress_callback: Optional[Any] = None) -> dict[str, Any]:
    """Train (or reuse / resume) one run and return its result row (RESULT_COLUMNS plus ``lambdas``,
    ``cancelled`` and ``test_items``: a file of per-item test results). The one per-run body of
    experiments and ablations."""
    train = splits["train"]
    data = train.provenance.to_dict()
    spec = request_spec(req, data)
    rid = run_id(spec)
    run_dir = run_dir_of(req, spec)
    _claim_run_dir(run_dir, spec)
    model = build_model(req, train, splits)
    cfg = replace(req.config, seed=req.seed, out_dir=str(run_dir), resume=True, progress=progress,
                  tensorboard=tensorboard_dir(req.config.tensorboard, run_dir))
    if progress:
        print(f"[run] {req.target_dataset} {req.name} seed={req.seed} run={rid}", flush=True)
    result = fit(model, train, splits["val"], cfg, progress_callback=progress_callback)
    test = evaluate(model, splits["test"], cfg.eval_batch_size)
    items_file = run_dir / TEST_ITEMS_FILE
    if not result.cancelled and not items_file.is_file():
        atomic_write_text(items_file, json.dumps(_test_items(model, splits["test"], cfg.eval_batch_size)))
    return {"arm": req.arm, "aux": req.aux or "none", "seed": req.seed, "test_acc": test["acc"],
            "val_acc": result.final.get("val_acc"), "test_loss": test["loss"],
            "test_n": len(splits["test"]), "train_time_s": result.train_time_s,
            **_lambda_stats(result.lambdas), "epochs": len(result.history), "run_dir": str(run_dir),
            "run_id": rid, "aux_sha256": spec["aux_sha256"], "model_size": req.size,
            "data": json.dumps(data, sort_keys=True), "recipe": json.dumps(spec["recipe"], sort_keys=True),
            "lambdas": json.dumps(result.lambdas, sort_keys=True), "cancelled": result.cancelled,
            "test_items": str(items_file) if items_file.is_file() else None,
            "train_fraction": float(data.get("extra", {}).get("train_fraction", 1.0)), "train_n": len(train)}
