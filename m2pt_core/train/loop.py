"""fit and evaluate: one training loop for every modality, baseline and M2PT alike.

Per step: lr from the warmup + cosine schedule, forward (autocast on CUDA when asked), cross
entropy, backward, optional grad clipping, AdamW step. Per epoch: validation, the JSONL record
(with every λ), an atomic checkpoint, the progress callback."""
from __future__ import annotations

import contextlib
import time
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
from ..pathways.lambdas import get_lambdas
from ..scores import item_correct, score_totals
from . import ddp
from .batches import epoch_seed, eval_shard_indices, iterate, num_batches, permutation
from .callbacks import ProgressCallback, notify
from .config import TrainConfig
from .optim import build_optimizer, lr_factor, set_lr
from .rng import draws_random, seeded
from .runlog import JsonlLog
from .tensorboard import open_tensorboard
from .resume import StartPoint, start_point
from .state import save_train_state

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
    """Accuracy and mean cross-entropy of ``model`` on ``data`` (summed over ranks under torchrun).

    Args:
        model: the model (put in eval mode for the duration).
        data: a map-style Dataset of (x, y), e.g. ``open_dataset(name, "test")``.
        batch_size, device, amp: how to run it (default: the model's device, fp32).
    Returns:
        {"acc": fraction correct, "loss": mean cross-entropy, "n": items}; for an interval, see
        analysis.accuracy_interval, for a paired difference compare_models.
    """
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


def _stop_everywhere(stop: bool, device: torch.device) -> bool:
    """Under torchrun every rank must stop at the same step, or the others would hang."""
    return ddp.all_reduce_sum([float(stop)], device)[0] > 0 if ddp.world_size() > 1 else stop


@dataclass
class _Run:
    """What one fit call holds while it trains."""
    model: nn.Module                       # the model trained in place
    net: nn.Module                         # the model, or its DDP wrapper under torchrun
    config: TrainConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    start: StartPoint                      # where this session started (resume), and the history
    callback: Optional[ProgressCallback]
    steps_per_epoch: int
    log: Optional[JsonlLog] = None
    tb: Any = None
    session_start: float = field(default_factory=time.perf_counter)

    @property
    def main(self) -> bool:
        return ddp.is_main()

    @property
    def out(self) -> Optional[Path]:
        return Path(self.config.out_dir) if self.config.out_dir else None

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    def train_time(self) -> float:
        return self.start.train_time_s + time.perf_counter() - self.session_start

    def tell(self, event: dict[str, Any]) -> bool:
        """Send ``event`` to the progress callback; True when every rank is asked to stop."""
        return self.callback is not None and _stop_everywhere(not notify(self.callback, event), self.device)


def _check_splits(train: Dataset, val: Optional[Dataset]) -> None:
    if len(train) == 0:
        raise ValueError("The training set is empty.")
    if val is not None and len(val) == 0:
        # An empty split (e.g. a tiny data_size) would log accuracy 0.0 as if it were measured.
        raise ValueError("The validation set is empty; pass val=None or use more data (e.g. a larger data_size).")


def _prepare(model: nn.Module, train: Dataset, val: Optional[Dataset], config: TrainConfig,
             callback: Optional[ProgressCallback]) -> _Run:
    """Device, DDP wrapper, optimizer, start point (resume), log and TensorBoard of one fit call."""
    device = ddp.setup(pick_device(config.device))
    if getattr(train, "provenance", None) is not None:   # recorded in every checkpoint of this model
        model.data_provenance = train.provenance.to_dict()
    model.to(device)
    net: nn.Module = model
    if ddp.world_size() > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = build_optimizer(model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16" and device.type == "cuda")
    _check_splits(train, val)
    steps_per_epoch = num_batches(len(ddp.shard(torch.arange(len(train)))), config.batch_size)
    out = Path(config.out_dir) if config.out_dir else None
    start = start_point(config, out, model, optimizer, scaler, ddp.is_main())
    run = _Run(model, net, config, device, optimizer, scaler, start, callback, steps_per_epoch)
    if out is not None and run.main:
        run.log = JsonlLog(out / LOG_FILE)
        out.mkdir(parents=True, exist_ok=True)
        run.log.truncate_after(start.epoch + 1)   # a fresh run (start 0) starts an empty log
        if start.change:
            run.log.write(start.change)
    run.tb = open_tensorboard(config.tensorboard, model, run.main)
    ddp.barrier()
    run.session_start = time.perf_counter()
    return run


def _train_step(run: _Run, x: torch.Tensor, y: torch.Tensor, step: int) -> tuple[float, float]:
    """One optimizer step on a batch: (mean training loss, number correct)."""
    config, optimizer = run.config, run.optimizer
    warmup_steps = round(config.warmup_epochs * run.steps_per_epoch)
    set_lr(optimizer, lr_factor(step, run.total_steps, warmup_steps, config.min_lr_ratio))
    x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
    with _autocast(run.device, config.amp):
        logits = run.net(x)                                            # (B, num_classes)
    # The training objective (label smoothing); the scores reported are m2pt_core.scores'.
    loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if config.grad_clip:
        run.scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.scaler.step(optimizer)
    run.scaler.update()
    return float(loss.detach()), float(item_correct(logits.detach(), y).sum())


def _train_epoch(run: _Run, train: Dataset, epoch: int, step: int, stochastic: bool
                 ) -> tuple[int, Optional[dict[str, Any]]]:
    """One epoch of steps: (global step after it, {"train_loss", "train_acc"}), or None as the
    record when the callback stopped the run mid-epoch."""
    config = run.config
    run.net.train()
    loss_sum = correct = count = 0.0
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
               disable=not (config.progress and run.main))
    indices = ddp.shard(permutation(len(train), config.seed, epoch))
    # Under torchrun each rank offsets the seed, so ranks do not draw the same dropout masks.
    rng = seeded(epoch_seed(config.seed, epoch) + ddp.rank(), run.device) if stochastic else contextlib.nullcontext()
    with rng:
        for i, (x, y) in enumerate(iterate(train, indices, config.batch_size, config.num_workers,
                                           epoch_seed(config.seed, epoch))):
            loss_val, batch_correct = _train_step(run, x, y, step)
            step += 1
            loss_sum, correct, count = loss_sum + loss_val * len(y), correct + batch_correct, count + len(y)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}")
            event = {"event": "step", "epoch": epoch + 1, "epochs": config.epochs, "step": i + 1,
                     "steps_per_epoch": run.steps_per_epoch, "global_step": step, "total_steps": run.total_steps,
                     "loss": loss_val, "batch_acc": batch_correct / len(y), "lr": run.optimizer.param_groups[0]["lr"]}
            if run.tb is not None:
                run.tb.step(event)
            if run.tell(event):
                bar.close()
                return step, None
    bar.close()
    loss_sum, correct, count = ddp.all_reduce_sum([loss_sum, correct, count], run.device)
    return step, {"epoch": epoch + 1, "train_loss": loss_sum / count, "train_acc": correct / count}


def _checkpoint(run: _Run, record: dict[str, Any], step: int) -> None:
    """After an epoch: the resumable state (rank 0), the log line, TensorBoard and the summary."""
    history = run.start.history
    if run.main and run.out is not None:
        state = {"epoch": record["epoch"], "step": step, "config": run.config.to_dict(), "history": history,
                 "recipe_changes": run.start.changes, "train_time_s": run.train_time()}
        save_train_state(run.out, run.model, run.optimizer, state, run.scaler)
        run.log.write(record)
    if run.tb is not None:
        run.tb.epoch(record, step)
    if run.main and run.config.progress:
        tqdm.write(_summary(record))


def _final_model(run: _Run, cancelled: bool) -> Optional[Path]:
    """The finished run's model file: written now, or already there (a finished run resumed)."""
    out, history = run.out, run.start.history
    if run.start.epoch >= run.config.epochs and out is not None and (out / FINAL_MODEL).is_file():
        return out / FINAL_MODEL          # a finished run resumed: nothing trained, nothing rewritten
    if not cancelled and out is not None and run.main:
        return save_checkpoint(run.model, out / FINAL_MODEL,
                               extra={"train_config": run.config.to_dict(), "final": history[-1] if history else {}})
    return None


def fit(model: nn.Module, train: Dataset, val: Optional[Dataset] = None,
        config: Optional[TrainConfig] = None, progress_callback: Optional[ProgressCallback] = None
        ) -> FitResult:
    """Train ``model`` in place on ``train``. Under torchrun the model is wrapped in DDP (gloo on
    CPU, nccl on CUDA) and each rank trains on its shard; rank 0 writes the log and checkpoints.

    Args:
        model: the model to train (baseline or with pathways).
        train: a map-style Dataset of (x, y), e.g. ``open_dataset(name, "train")``.
        val: scored after every epoch (val_acc, val_loss in the log), or None.
        config: the recipe, out_dir (log.jsonl, resumable checkpoints) and resume; see TrainConfig.
        progress_callback: called with every step and epoch event; returning False stops the run.
    Returns:
        FitResult: the per-epoch history (with every λ), training time, whether it was cancelled
        and the final model file.
    """
    config = config or TrainConfig()
    run = _prepare(model, train, val, config, progress_callback)
    step, cancelled = run.start.step, False
    # Dropout / drop-path draw from torch's global generator: seed it per (seed, epoch) so a resume
    # replays them, and hold it for this run alone (rng.py). A model that draws nothing leaves it alone.
    # Shuffling never touches it: permutation() has its own generator, the same on every rank, and
    # ddp.shard takes this rank's share of that one permutation.
    stochastic = draws_random(model)
    for epoch in range(run.start.epoch, config.epochs):
        t0 = time.perf_counter()
        step, record = _train_epoch(run, train, epoch, step, stochastic)
        if record is None:
            cancelled = True
            break
        v = evaluate(model, val, config.eval_batch_size, run.device, config.amp) if val is not None else {}
        record.update(val_loss=v.get("loss"), val_acc=v.get("acc"), lr=run.optimizer.param_groups[0]["lr"],
                      time_s=time.perf_counter() - t0, lambdas=get_lambdas(model))
        run.start.history.append(record)
        _checkpoint(run, record, step)
        ddp.barrier()
        if run.tell({"event": "epoch", "epochs": config.epochs, **record}):
            cancelled = True
            break
    if run.tb is not None:
        run.tb.close()
    train_time = run.train_time()
    model_path = _final_model(run, cancelled)
    ddp.barrier()
    model.eval()
    return FitResult(history=run.start.history, train_time_s=train_time, cancelled=cancelled, out_dir=run.out,
                     model_path=model_path, resumed_from_epoch=run.start.epoch)


def _summary(r: dict[str, Any]) -> str:
    val = f" val_loss {r['val_loss']:.4f} val_acc {r['val_acc']:.4f}" if r.get("val_acc") is not None else ""
    lams = list(r.get("lambdas", {}).values())
    lam = f" |λ| mean {sum(abs(v) for v in lams) / len(lams):.4f}" if lams else ""
    return (f"epoch {r['epoch']}: train_loss {r['train_loss']:.4f} train_acc {r['train_acc']:.4f}"
            f"{val}{lam} ({r['time_s']:.1f}s)")
