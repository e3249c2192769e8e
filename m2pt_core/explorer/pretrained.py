"""Pretrained checkpoints as dashboard targets: a file (or Hugging Face name) in any layout the
library reads becomes a MultimodalViT with a new head for a chosen dataset's classes, and its
LoadReport says what was loaded, reshaped, skipped or left at init."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import pandas as pd
from torch import nn

from ..pretrained import LoadReport, load_pretrained_target
from .summaries import ModelCard


@dataclass
class PretrainedTarget:
    name: str                 # display name in the target list
    source: str               # the file or Hugging Face name
    dataset: Optional[str]
    model: nn.Module
    report: LoadReport

    def card(self) -> ModelCard:
        c = self.model.config
        counts = self.report.counts()
        return ModelCard(self.name, f"pretrained ({self.report.layout} layout)", c.modality, self.dataset, c.size,
                         extra={"source": Path(self.source).name, "width × depth × heads":
                                f"{c.embed_dim} × {c.depth} × {c.num_heads}",
                                "load report": ", ".join(f"{v} {k}" for k, v in counts.items()),
                                "head": f"new, {c.num_classes} classes (at init: fine-tune it in the Train tab)"})

    def report_table(self) -> pd.DataFrame:
        return self.report.table()


def open_pretrained(source: Union[str, Path], dataset: Optional[str] = None, num_classes: int = 2,
                    num_heads: Optional[int] = None) -> PretrainedTarget:
    """Load ``source`` as a target: with a built-in ``dataset``, its classes and input spec (patch
    size from the checkpoint); with the user's files (a folder, manifest or archive path, which the
    caller has checked is readable), their classes and the checkpoint's own input (a ViT-B/16 stays
    at 224 px and 197 tokens), their validation split being the one the dashboard scores; without,
    ``num_classes`` classes and the checkpoint's own input."""
    from ..data.sources import is_builtin
    if dataset and not is_builtin(dataset):
        return _open_for_files(source, dataset, num_heads)
    modality, spec, classes = None, None, None
    if dataset:
        from ..data.registry import dataset_info, resolve_spec
        info = dataset_info(dataset)
        modality, spec, classes = info.modality, resolve_spec(info, None), list(info.classes)
        num_classes = len(classes)
    model, report = load_pretrained_target(str(source), num_classes, modality=modality, input=spec,
                                           num_heads=num_heads, class_names=classes, dataset=dataset)
    for p in model.parameters():
        p.requires_grad_(False)
    label = f"pretrained: {Path(str(source)).name}" + (f" for {dataset}" if dataset else "")
    return PretrainedTarget(label, str(source), dataset, model.eval(), report)


def _open_for_files(source: Union[str, Path], dataset: str, num_heads: Optional[int]) -> PretrainedTarget:
    """A pretrained target for the user's files: the files are listed, not decoded (their split
    is decoded when scored, at the checkpoint's input size); the model records their provenance,
    so the dashboard scores their validation split and never their training items."""
    from ..data import open_dataset
    train = open_dataset(dataset, "train", prepare=False)
    classes = list(train.classes)
    model, report = load_pretrained_target(str(source), len(classes), modality=train.modality,
                                           num_heads=num_heads, class_names=classes)
    model.data_provenance = train.provenance.to_dict()
    for p in model.parameters():
        p.requires_grad_(False)
    label = f"pretrained: {Path(str(source)).name} for {Path(dataset).name}"
    return PretrainedTarget(label, str(source), dataset, model.eval(), report)


def pretrained_summary(t: PretrainedTarget) -> str:
    c = t.report.counts()
    return (f"Opened **{t.name}** from a {t.report.layout} checkpoint: {c['loaded']} tensors loaded, "
            f"{c['reshaped']} reshaped, {c['left at init']} left at init, {c['skipped']} checkpoint keys skipped "
            f"(table below). The head is new, so accuracy is at chance until it is fine-tuned.")

