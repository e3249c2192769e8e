"""Optional TensorBoard events beside log.jsonl (``TrainConfig.tensorboard`` / ``m2pt train --tensorboard DIR``).

Per step: train/loss, train/batch_acc, train/lr and every pathway's λ (``lambda/<module name>``);
per epoch: train_loss, train_acc, val_loss, val_acc under ``epoch/``. The x axis is the global step.
log.jsonl stays the project's record (the dashboard and notebooks read it); this only mirrors it
for researchers who look in TensorBoard. It never enters a run's identity (not a recipe field).
Written by torch.utils.tensorboard.SummaryWriter (the ``tensorboard`` package).
"""
from __future__ import annotations

from typing import Any, Optional

from torch import nn

from ..errors import M2PTError
from ..pathways import get_lambdas


class TensorBoardLog:
    def __init__(self, log_dir: str, model: nn.Module):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:      # torch raises ImportError when the tensorboard package is missing
            raise M2PTError("--tensorboard needs the tensorboard package (pip install tensorboard); "
                            "log.jsonl is written either way") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.model = model

    def step(self, event: dict[str, Any]) -> None:
        """One training step (fit's "step" event): loss, batch accuracy, lr and every λ now."""
        s = event["global_step"]
        self.writer.add_scalar("train/loss", event["loss"], s)
        if event.get("batch_acc") is not None:
            self.writer.add_scalar("train/batch_acc", event["batch_acc"], s)
        self.writer.add_scalar("train/lr", event["lr"], s)
        for name, lam in get_lambdas(self.model).items():
            self.writer.add_scalar(f"lambda/{name}", lam, s)

    def epoch(self, record: dict[str, Any], global_step: int) -> None:
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            if record.get(key) is not None:
                self.writer.add_scalar(f"epoch/{key}", record[key], global_step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(log_dir: Optional[str], model: nn.Module, main: bool) -> Optional[TensorBoardLog]:
    """A TensorBoardLog on the main process when ``log_dir`` is set, else None."""
    return TensorBoardLog(log_dir, model) if log_dir and main else None
