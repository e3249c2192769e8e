"""A tiny zoo built in seconds (test-size models, a short training run), in the bundled zoo's
format: for tests and for trying the dashboard before ``m2pt zoo build`` has run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Union

import torch

from ..checkpoint import save_checkpoint
from ..model import create_model
from ..pathways import attach_pathways, count_parameters
from ..zoo import MANIFEST, sha256


def build_tiny_zoo(root: Union[str, Path], image_dataset: str = "digits", epochs: int = 5,
                   data_size: int = 600) -> Path:
    """Write image / audio baselines and an image M2PT model with audio pathways (test size)
    plus their training logs and manifest.json into ``root``; returns root."""
    from ..data import load_dataset
    from ..train import LOG_FILE, TrainConfig, evaluate, fit

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = {}

    def train(name: str, dataset: str, aux: Union[str, None], size: int) -> None:
        splits = {s: load_dataset(dataset, s, seed=0, size=size) for s in ("train", "val", "test")}
        tr = splits["train"]
        torch.manual_seed(0)
        model = create_model("test", tr.modality, len(tr.classes), input=tr.spec, class_names=list(tr.classes),
                             dataset=dataset)
        if aux:
            attach_pathways(model, root / entries[aux]["file"])
            model.pathway_info["source"] = aux
        out = root / ".build" / name
        cfg = TrainConfig(epochs=epochs, batch_size=32, lr=5e-3, warmup_epochs=0.2, lambda_lr_scale=30.0,
                          device="cpu", out_dir=str(out), progress=False)
        result = fit(model, tr, splits["val"], cfg)
        file, log = f"{name}.safetensors", f"{name}.log.jsonl"
        save_checkpoint(model, root / file, extra={"zoo_name": name})
        shutil.copyfile(out / LOG_FILE, root / log)
        test = evaluate(model, splits["test"])
        entries[name] = {"name": name, "file": file, "log": log, "dataset": dataset, "size": "test",
                         "modality": tr.modality, "auxiliary": aux, "accuracy": test["acc"], "test_items": test["n"],
                         "val_accuracy": result.final.get("val_acc"), "val_items": len(splits["val"]), "epochs": epochs,
                         "training_time_s": round(result.train_time_s, 1), "params": count_parameters(model)[1],
                         "bytes": (root / file).stat().st_size, "sha256": sha256(root / file),
                         "log_sha256": sha256(root / log), "recipe": {"data_size": size}}

    train(f"image-{image_dataset}", image_dataset, None, data_size)
    train("audio-sounds", "sounds", None, 200)
    train(f"m2pt-{image_dataset}-audio", image_dataset, "audio-sounds", data_size)
    shutil.rmtree(root / ".build", ignore_errors=True)
    (root / MANIFEST).write_text(json.dumps({"format": "m2pt-zoo/1", "models": entries}, indent=1) + "\n")
    return root


def cached_tiny_zoo(base: Union[str, Path, None] = None) -> Path:
    """build_tiny_zoo into a per-version folder under the temp dir, once (shared by test files)."""
    import tempfile
    from .. import __version__
    root = Path(base or tempfile.gettempdir()) / f"m2pt-tiny-zoo-{__version__}-{torch.__version__}"
    if not (root / MANIFEST).is_file():
        tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=root.name + ".tmp"))
        build_tiny_zoo(tmp)
        try:
            tmp.rename(root)
        except OSError:          # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return root
