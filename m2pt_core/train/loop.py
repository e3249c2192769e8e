"""fit and evaluate: one training loop for every modality, baseline and M2PT alike.

Per step: lr from the warmup + cosine schedule, forward (autocast on CUDA when asked), cross
entropy, backward, optional grad clipping, AdamW step. Per epoch: validation, the JSONL record
(with every λ), an atomic checkpoint, the progress callback."""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..checkpoint import save_checkpoint
from ..device import pick_device
from ..errors import ResumeError
from ..pathways.lambdas import get_lambdas
from ..scores import item_correct, score_totals
from . import ddp
from .batches import epoch_seed, eval_shard_indices, iterate, num_batches, permutation
from .callbacks import ProgressCallback, notify
from .config import RESUME_APPLIED_FIELDS, RESUME_REFUSED_FIELDS, TrainConfig
from .optim import build_optimizer, lr_factor, set_lr
from .rng import draws_random, seeded
from .runlog import JsonlLog
from .tensorboard import open_tensorboard
from .state import STATE_FILE, load_train_state, restore_train_state, save_train_state

FINAL_MODEL = "model.safetensors"
LOG_FILE = "log.jsonl"


@dataclass
class FitResult:
    history: list[dict[str, Any]]          # one record per finished epoch (as in log.jsonl)
    train_time_s: float                    # over all sessions of a resumed run
    cancelled: bool = False
    out_dir: Optional[Path] = None
    model_path: Optional[Path] = None      # out_dir/model.safetensors once the run finished
    resumed_from_epoch: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}

    @property
    def lambdas(self) -> dict[str, float]:
        return dict(self.final.get("lambdas", {}))


def _autocast(device: torch.device, amp: str):
    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, batch_size: int = 256,
             device: Optional[torch.device] = None, amp: str = "none") -> dict[str, float]:
    """{"acc", "loss", "n"} of ``model`` on ``data`` (summed over ranks under torchrun)."""
    model = _unwrap(model)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = correct = count = 0.0
    try:
        for x, y in iterate(data, eval_shard_indices(len(data)), batch_size):
            x, y = x.to(device), y.to(device)
            with _autocast(device, amp):
                logits = model(x)
            batch_correct, batch_loss = score_totals(logits, y)
            correct, loss_sum, count = correct + batch_correct, loss_sum + batch_loss, count + len(y)
    finally:
        model.train(was_training)
    loss_sum, correct, count = ddp.all_reduce_sum([loss_sum, correct, count], device)
    return {"acc": correct / max(count, 1), "loss": loss_sum / max(count, 1), "n": int(count)}


def _resume_changes(record: dict[str, Any], config: TrainConfig, out: Path) -> dict[str, dict[str, Any]]:
    """{field: {"from", "to"}} of the recipe changes a resume applies; ResumeError for the rest."""
    old = record.get("config", {})
    differs = lambda k: k in old and old[k] != getattr(config, k)  # noqa: E731
    refused = [f"{k} {old[k]!r} -> {getattr(config, k)!r}" for k in RESUME_REFUSED_FIELDS if differs(k)]
    if refused:
        raise ResumeError(
            f"Cannot resume the run in {out} with a different {', '.join(refused)}: these fix the data "
            "order and the number of steps, so the result would be neither the old run nor the new one. "
            f"Keep the old values ({', '.join(f'{k}={old[k]!r}' for k in RESUME_REFUSED_FIELDS if k in old)}), "
            "or start afresh (without resume, or in another out_dir).")
    return {k: {"from": old[k], "to": getattr(config, k)} for k in RESUME_APPLIED_FIELDS if differs(k)}


def _stop_everywhere(stop: bool, device: torch.device) -> bool:
    """Under torchrun every rank must stop at the same step, or the others would hang."""
    return ddp.all_reduce_sum([float(stop)], device)[0] > 0 if ddp.world_size() > 1 else stop


def fit(model: nn.Module, train: Dataset, val: Optional[Dataset] = None,
        config: Optional[TrainConfig] = None, progress_callback: Optional[ProgressCallback] = None
        ) -> FitResult:
    """Train ``model`` in place on ``train`` (map-style Dataset of (x, y)); see TrainConfig.

    Under torchrun the model is wrapped in DDP (gloo on CPU, nccl on CUDA) and each rank trains
    on its shard; rank 0 writes the log and checkpoints."""
    config = config or TrainConfig()
    device = ddp.setup(pick_device(config.device))
    main = ddp.is_main()
    if getattr(train, "provenance", None) is not None:   # recorded in every checkpoint of this model
        model.data_provenance = train.provenance.to_dict()
    model.to(device)
    net: nn.Module = model
    if ddp.world_size() > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = build_optimizer(model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16" and device.type == "cuda")

    n = len(train)
    if n == 0:
        raise ValueError("The training set is empty.")
    if val is not None and len(val) == 0:
        # An empty split (e.g. a tiny data_size) would log accuracy 0.0 as if it were measured.
        raise ValueError("The validation set is empty; pass val=None or use more data (e.g. a larger data_size).")
    steps_per_epoch = num_batches(len(ddp.shard(torch.arange(n))), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)

    out = Path(config.out_dir) if config.out_dir else None
    history: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []     # recipe changes applied by resumes, as logged
    start_epoch, step, prev_time = 0, 0, 0.0
    change: dict[str, Any] = {}
    if config.resume and out is not None:
        record = load_train_state(out)
        if record is not None:
            applied = _resume_changes(record, config, out)
            # The optimizer was built from `config`; only its per-parameter state is restored.
            restore_train_state(out, record, model, optimizer, scaler)
            start_epoch, step = record["epoch"], record["step"]
            history, prev_time = record["history"], record["train_time_s"]
            changes = list(record.get("recipe_changes", []))
            if applied and start_epoch < config.epochs:   # a finished run trains no further step
                change = {"event": "recipe_change", "from_epoch": start_epoch + 1, "step": step, "changes": applied}
                changes.append(change)
                warnings.warn(f"Resuming {out} with a changed recipe, applied from step {step} (epoch "
                              f"{start_epoch + 1}) on: " + "; ".join(f"{k}: {c['from']} -> {c['to']}"
                                                                      for k, c in applied.items()), stacklevel=2)
    elif out is not None and main and (out / STATE_FILE).exists():
        (out / STATE_FILE).unlink()   # a fresh run must never be resumed as the old one
    log = JsonlLog(out / LOG_FILE) if out is not None and main else None
    if log is not None:
        out.mkdir(parents=True, exist_ok=True)
        log.truncate_after(start_epoch + 1)   # a fresh run (start 0) starts an empty log
        if change:
            log.write(change)
    tb = open_tensorboard(config.tensorboard, model, main)
    ddp.barrier()

    cancelled = False
    session_start = time.perf_counter()
    # Dropout / drop-path draw from torch's global generator: seed it per (seed, epoch) so a resume
    # replays them, and hold it for this run alone (rng.py). A model that draws nothing leaves it alone.
    # Shuffling never touches it: permutation() has its own generator, the same on every rank, and
    # ddp.shard takes this rank's share of that one permutation.
    stochastic = draws_random(model)
    for epoch in range(start_epoch, config.epochs):
        net.train()
        t0 = time.perf_counter()
        loss_sum = correct = count = 0.0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not (config.progress and main))
        indices = ddp.shard(permutation(n, config.seed, epoch))
        # Under torchrun each rank offsets the seed, so ranks do not draw the same dropout masks.
        rng = seeded(epoch_seed(config.seed, epoch) + ddp.rank(), device) if stochastic else contextlib.nullcontext()
        with rng:
            for i, (x, y) in enumerate(iterate(train, indices, config.batch_size, config.num_workers,
                                                     epoch_seed(config.seed, epoch))):
                set_lr(optimizer, lr_factor(step, total_steps, warmup_steps, config.min_lr_ratio))
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with _autocast(device, config.amp):
                    logits = net(x)                                            # (B, num_classes)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                loss_val = float(loss.detach())
                batch_correct = float(item_correct(logits.detach(), y).sum())
                loss_sum += loss_val * len(y)
                correct += batch_correct
                count += len(y)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_val:.3f}")
                event = {"event": "step", "epoch": epoch + 1, "epochs": config.epochs, "step": i + 1,
                         "steps_per_epoch": steps_per_epoch, "global_step": step, "total_steps": total_steps,
                         "loss": loss_val, "batch_acc": batch_correct / len(y), "lr": optimizer.param_groups[0]["lr"]}
                if tb is not None:
                    tb.step(event)
                if progress_callback is not None and _stop_everywhere(not notify(progress_callback, event), device):
                    cancelled = True
                    break
        bar.close()
        if cancelled:
            break
        loss_sum, correct, count = ddp.all_reduce_sum([loss_sum, correct, count], device)
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / count, "train_acc": correct / count}
        if val is not None:
            v = evaluate(model, val, config.eval_batch_size, device, config.amp)
            record.update(val_loss=v["loss"], val_acc=v["acc"])
        else:
            record.update(val_loss=None, val_acc=None)
        record.update(lr=optimizer.param_groups[0]["lr"], time_s=time.perf_counter() - t0,
                      lambdas=get_lambdas(model))
        history.append(record)
        if main and out is not None:
            state = {"epoch": epoch + 1, "step": step, "config": config.to_dict(), "history": history,
                     "recipe_changes": changes, "train_time_s": prev_time + time.perf_counter() - session_start}
            save_train_state(out, model, optimizer, state, scaler)
            log.write(record)
        if tb is not None:
            tb.epoch(record, step)
        if main and config.progress:
            tqdm.write(_summary(record))
        ddp.barrier()
        if progress_callback is not None and _stop_everywhere(
                not notify(progress_callback, {"event": "epoch", "epochs": config.epochs, **record}), device):
            cancelled = True
            break

    if tb is not None:
        tb.close()
    train_time = prev_time + time.perf_counter() - session_start
    model_path = None
    finished_before = start_epoch >= config.epochs and out is not None and (out / FINAL_MODEL).is_file()
    if finished_before:
        model_path = out / FINAL_MODEL          # a finished run resumed: nothing trained, nothing rewritten
    elif not cancelled and out is not None and main:
        model_path = save_checkpoint(model, out / FINAL_MODEL,
                                     extra={"train_config": config.to_dict(), "final": history[-1] if history else {}})
    ddp.barrier()
    model.eval()
    return FitResult(history=history, train_time_s=train_time, cancelled=cancelled, out_dir=out,
                     model_path=model_path, resumed_from_epoch=start_epoch)


def _summary(r: dict[str, Any]) -> str:
    val = f" val_loss {r['val_loss']:.4f} val_acc {r['val_acc']:.4f}" if r.get("val_acc") is not None else ""
    lams = list(r.get("lambdas", {}).values())
    lam = f" |λ| mean {sum(abs(v) for v in lams) / len(lams):.4f}" if lams else ""
    return (f"epoch {r['epoch']}: train_loss {r['train_loss']:.4f} train_acc {r['train_acc']:.4f}"
            f"{val}{lam} ({r['time_s']:.1f}s)")
