"""Building the zoo: the recipes of the bundled models and ``build``, which trains them
deterministically into a zoo folder and writes its manifest (see zoo/manifest.py)."""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import pandas as pd
import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data import load_dataset
from ..model import MultimodalViT, create_model
from ..pathways import attach_pathways, count_parameters
from ..train import LOG_FILE, TrainConfig, evaluate, fit
from .manifest import _entries, load, manifest, model_path, sha256, write_manifest, zoo_dir


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is trained. ``aux`` names another zoo model (built before this one)."""
    name: str
    dataset: str
    size: str = "demo"
    aux: Optional[str] = None
    data_size: Optional[int] = None     # items across all splits (None: the dataset's default)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    warmup_epochs: float = 0.5
    lambda_lr_scale: float = 100.0
    seed: int = 0


# Budget (2 CPU cores, batch 128, demo size): image ≈ 0.36 s/step, audio 0.45, point cloud 0.7,
# video 1.2. Four mnist5k models × 10 epochs × 28 steps ≈ 400 s, sounds 20 × 17 steps ≈ 150 s,
# shapes3d and motion (2,100 training items) 18 × 17 steps ≈ 3.5 and 6 min: about 20 CPU-minutes
# with evaluation. (mnist5k at 6 epochs reached 78% test, at 10 epochs 86%; lr 4e-3 diverged.)
# shapes3d and motion need lr 1e-3 with a 1-epoch warmup: at 2e-3 both stayed at chance for the
# first 3 epochs, and at 1,500 items × 8 epochs (72 steps) neither learned (12% and 8% test);
# at 1e-3 motion sits at chance for ~4 epochs before val accuracy starts to rise.
RECIPES: tuple[Recipe, ...] = (
    Recipe("image-mnist5k", "mnist5k"),
    Recipe("audio-sounds", "sounds", epochs=20),
    Recipe("pointcloud-shapes3d", "shapes3d", data_size=3000, epochs=18, lr=1e-3, warmup_epochs=1.0),
    Recipe("video-motion", "motion", data_size=3000, epochs=18, lr=1e-3, warmup_epochs=1.0),
    Recipe("m2pt-mnist5k-audio", "mnist5k", aux="audio-sounds"),
    Recipe("m2pt-mnist5k-pointcloud", "mnist5k", aux="pointcloud-shapes3d"),
    Recipe("m2pt-mnist5k-video", "mnist5k", aux="video-motion"),
    # An M2PT target for every other modality, each paired with its baseline above (same recipe).
    Recipe("m2pt-sounds-image", "sounds", aux="image-mnist5k", epochs=20),
    Recipe("m2pt-shapes3d-audio", "shapes3d", aux="audio-sounds", data_size=3000, epochs=18, lr=1e-3,
           warmup_epochs=1.0),
    Recipe("m2pt-motion-image", "motion", aux="image-mnist5k", data_size=3000, epochs=18, lr=1e-3,
           warmup_epochs=1.0),
)
RECIPE_BY_NAME = {r.name: r for r in RECIPES}


def evaluate_models(path: Optional[Union[str, Path]] = None, names: Optional[Sequence[str]] = None,
                    update: bool = False) -> pd.DataFrame:
    """Test and validation accuracy of zoo models (their stored files) on their datasets as the
    data code builds them now.

    With ``update`` the manifest's accuracy / test_loss / test_items and val_accuracy / val_items
    are replaced (the value from the build is kept as ``build_accuracy``): needed when a dataset's
    generator changed after the zoo was built, and so that a model card states exactly what the
    dashboard measures on the same split. Model files are not touched, so their sha256 stay valid."""
    root = zoo_dir(path)
    entries = manifest(root)["models"]
    rows = []
    for name in names or list(entries):
        e = entries[name]
        model = load(name, path=root)
        r, v = (evaluate(model, load_dataset(e["dataset"], split, spec=model.config.input,
                                             size=e["recipe"].get("data_size"))) for split in ("test", "val"))
        rows.append({"name": name, "accuracy": r["acc"], "manifest_accuracy": e.get("accuracy"), "test_items": r["n"],
                     "val_accuracy": v["acc"], "manifest_val_accuracy": e.get("val_accuracy"), "val_items": v["n"]})
        if update and (r["acc"] != e.get("accuracy") or r["n"] != e.get("test_items")):
            e.setdefault("build_accuracy", e.get("accuracy"))
            e.update(accuracy=r["acc"], test_loss=r["loss"], test_items=r["n"])
        if update:
            e.update(val_accuracy=v["acc"], val_items=v["n"])
    if update:
        write_manifest(root, entries)
    return pd.DataFrame(rows)


def train_recipe(recipe: Recipe, root: Path, progress: bool = False, device: str = "cpu",
                 dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Train ``recipe`` into ``root`` (its aux must already be there); its manifest entry."""
    splits = {s: load_dataset(recipe.dataset, s, seed=0, size=recipe.data_size) for s in ("train", "val", "test")}
    train = splits["train"]
    torch.manual_seed(recipe.seed)
    model = create_zoo_model(recipe, train)
    if recipe.aux:
        attach_pathways(model, model_path(recipe.aux, root))
        model.pathway_info["source"] = recipe.aux
    cfg = TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                      warmup_epochs=recipe.warmup_epochs, lambda_lr_scale=recipe.lambda_lr_scale,
                      seed=recipe.seed, device=device, out_dir=str(root / ".build" / recipe.name), progress=progress)
    result = fit(model, train, splits["val"], cfg)
    file, log = f"{recipe.name}.safetensors", f"{recipe.name}.log.jsonl"
    save_checkpoint(model, root / file, dtype=dtype,
                    extra={"zoo_name": recipe.name, "recipe": asdict(recipe)})
    shutil.copyfile(root / ".build" / recipe.name / LOG_FILE, root / log)
    shutil.rmtree(root / ".build" / recipe.name, ignore_errors=True)
    # The accuracy recorded is that of the stored (fp16 by default) file, exactly as zoo.load returns it.
    stored = load_checkpoint(root / file)
    test, val = evaluate(stored, splits["test"]), evaluate(stored, splits["val"])   # not the fp32 run's last epoch
    return {"file": file, "log": log, "dataset": recipe.dataset, "size": recipe.size,
            "modality": train.modality, "auxiliary": recipe.aux,
            "auxiliary_modality": (model.pathway_info or {}).get("modality") if recipe.aux else None,
            "accuracy": test["acc"], "test_loss": test["loss"], "test_items": test["n"], "val_accuracy": val["acc"], "val_items": val["n"],
            "training_time_s": round(result.train_time_s, 1), "epochs": recipe.epochs,
            "params": count_parameters(stored)[1], "bytes": (root / file).stat().st_size,
            "sha256": sha256(root / file), "log_sha256": sha256(root / log), "recipe": asdict(recipe),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "device": device}


def create_zoo_model(recipe: Recipe, train) -> MultimodalViT:
    return create_model(recipe.size, train.modality, len(train.classes), input=train.spec,
                        class_names=list(train.classes), dataset=recipe.dataset)


def build(path: Optional[Union[str, Path]] = None, names: Optional[Sequence[str]] = None,
          force: bool = False, threads: int = 1, progress: bool = True, device: str = "cpu",
          recipes: Sequence[Recipe] = RECIPES, dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Train the zoo models (all of ``recipes``, or ``names``) into the zoo folder and update the
    manifest. ``recipes`` in build order (an aux before its users); ``dtype`` of the stored files.

    A model whose file matches its manifest entry and recipe is kept (so an interrupted build
    continues); ``force`` retrains. ``threads`` is fixed because CPU results depend on it."""
    root = zoo_dir(path, must_exist=False)
    root.mkdir(parents=True, exist_ok=True)
    by_name = {r.name: r for r in recipes}
    wanted = list(names) if names else list(by_name)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise KeyError(f"Unknown zoo model(s) {unknown}; the zoo builds: {', '.join(by_name)}.")
    entries = _entries(root)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for recipe in recipes:
            if recipe.name not in wanted:
                continue
            e = entries.get(recipe.name)
            if (not force and e and e.get("recipe") == asdict(recipe) and (root / e["file"]).is_file()
                    and sha256(root / e["file"]) == e.get("sha256")):
                if progress:
                    print(f"[zoo] {recipe.name}: up to date", flush=True)
                continue
            if progress:
                print(f"[zoo] training {recipe.name} ({recipe.dataset}, aux={recipe.aux})", flush=True)
            t0 = time.perf_counter()
            entries[recipe.name] = {"name": recipe.name, **train_recipe(recipe, root, progress, device, dtype)}
            write_manifest(root, entries)
            if progress:
                print(f"[zoo] {recipe.name}: test acc {entries[recipe.name]['accuracy']:.4f} "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
    finally:
        torch.set_num_threads(old_threads)
        shutil.rmtree(root / ".build", ignore_errors=True)
    return manifest(root)
