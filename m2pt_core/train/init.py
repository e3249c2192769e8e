"""A training target that starts from pretrained weights (``m2pt train --init PATH_OR_NAME``)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

from ..model import MultimodalViT
from ..pretrained import LoadReport, load_pretrained_target


def pretrained_target_for(init: Any, dataset: str, splits: dict[str, Any], data_seed: int = 0,
                          data_size: Optional[int] = None, num_heads: Optional[int] = None,
                          progress: bool = True) -> tuple[MultimodalViT, dict[str, Any], LoadReport]:
    """(target, splits, report): ``init``'s weights with a new head for the dataset's classes
    (``dataset``: a built-in name or the user's files, as ``open_dataset`` takes).

    The size follows the checkpoint, and so do the patch (and tubelet) size: when the model's input
    spec differs from the dataset's default (e.g. 28 px MNIST on a patch-16 ViT → 32 px), the
    splits are re-read with the model's spec so training and evaluation see what the model takes."""
    from ..data import open_dataset

    train = splits["train"]
    model, report = load_pretrained_target(init, len(train.classes), modality=train.modality, input=train.spec,
                                           num_heads=num_heads, class_names=list(train.classes), dataset=dataset)
    if model.config.input != train.spec:
        splits = {s: open_dataset(dataset, s, spec=model.config.input, seed=data_seed, size=data_size) for s in splits}
    model.init_info = {"init": str(init), **report.to_dict()}   # saved in every checkpoint (provenance)
    if progress:
        print(report, flush=True)
    return model, splits, report


def init_fingerprint(init: Any) -> dict[str, Any]:
    """What identifies pretrained starting weights in a run's spec: the sha256 of the weight file (a
    path, or the file a Hugging Face name resolves to in the local cache), never its name or path,
    so the same weights anywhere are the same init and other weights under one name are not."""
    from ..hf_cache import resolve_hf_weights
    path = Path(str(init)).expanduser()
    if not path.is_file():
        path = resolve_hf_weights(str(init)) or path
    if path.is_file():
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return {"sha256": h.hexdigest()}
    return {"init": str(init)}
