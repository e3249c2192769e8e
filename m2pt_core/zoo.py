"""The bundled model zoo (assets/zoo): what the dashboard opens on.

One demo-size model per modality on its built-in dataset (each is a baseline target and an
auxiliary for the others), and M2PT image targets (mnist5k) with each of the other modalities as
auxiliary, stored unmerged (W, W', λ) so λ can be swept. ``build`` trains them deterministically;
``manifest.json`` records each model's dataset, size, accuracy, sha256 and recipe.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import pandas as pd
import torch

from .assets import asset_dir
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import CheckpointError, M2PTError
from .model import MultimodalViT

MANIFEST = "manifest.json"
FORMAT = "m2pt-zoo/1"


def zoo_dir(path: Optional[Union[str, Path]] = None, must_exist: bool = True) -> Path:
    """The zoo folder: ``path``, else $M2PT_ZOO_DIR, $M2PT_ASSETS_DIR/zoo, assets/zoo beside the
    package or in the working directory (assets.py); AssetsNotFoundError saying how to point at it."""
    return asset_dir("zoo", path, must_exist)


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
)
RECIPE_BY_NAME = {r.name: r for r in RECIPES}


def sha256(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(path: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """The parsed manifest.json ({"format", "models": {name: entry}})."""
    file = zoo_dir(path) / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"No zoo manifest at {file}; build the zoo with `m2pt zoo build`.")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise CheckpointError(f"{file} has no 'models' table; expected the format {FORMAT}.")
    return data


def _entries(path: Optional[Union[str, Path]] = None) -> dict[str, dict[str, Any]]:
    try:
        return manifest(path)["models"]
    except FileNotFoundError:
        return {}


def model_names(path: Optional[Union[str, Path]] = None) -> list[str]:
    return list(_entries(path))


def model_path(name: str, path: Optional[Union[str, Path]] = None) -> Path:
    """File of zoo model ``name``; KeyError naming the known models when there is none."""
    entries = _entries(path)
    if name not in entries:
        known = ", ".join(entries) or "none (the zoo is not built: `m2pt zoo build`)"
        raise KeyError(f"Unknown zoo model {name!r}; the zoo has: {known}.")
    file = zoo_dir(path) / entries[name]["file"]
    if not file.is_file():
        raise FileNotFoundError(f"Zoo model {name!r} is in the manifest but {file} is missing; "
                                f"run `m2pt zoo build` or `m2pt zoo verify`.")
    return file


def load(name: str, device: Optional[Union[str, torch.device]] = None,
         path: Optional[Union[str, Path]] = None) -> MultimodalViT:
    """Zoo model ``name`` (with its pathways, if it has any), in eval mode."""
    return load_checkpoint(model_path(name, path), device=device)


def list_models(path: Optional[Union[str, Path]] = None) -> pd.DataFrame:
    """One row per zoo model: name, modality, dataset, size, auxiliary, accuracy, params, MB."""
    cols = ["name", "modality", "dataset", "size", "auxiliary", "accuracy", "params", "mb", "epochs",
            "training_time_s", "file"]
    rows = [{"name": n, **e, "mb": round(e.get("bytes", 0) / 1e6, 2)} for n, e in _entries(path).items()]
    return pd.DataFrame(rows, columns=cols)


def verify(path: Optional[Union[str, Path]] = None) -> list[str]:
    """Problems found (empty: every file is present and matches its sha256 in the manifest)."""
    try:
        root = zoo_dir(path)
        entries = manifest(root)["models"]
    except (FileNotFoundError, M2PTError) as e:   # a bad manifest, or no zoo anywhere (AssetsNotFoundError)
        return [str(e)]
    problems = []
    for name, e in entries.items():
        for key, sha_key in (("file", "sha256"), ("log", "log_sha256")):
            if not e.get(key):
                continue
            f = root / e[key]
            if not f.is_file():
                problems.append(f"{name}: {e[key]} is missing")
            elif sha256(f) != e.get(sha_key):
                problems.append(f"{name}: {e[key]} is corrupted (sha256 {sha256(f)[:12]}… does not match the "
                                f"manifest's {str(e.get(sha_key))[:12]}…)")
    return problems


def evaluate_models(path: Optional[Union[str, Path]] = None, names: Optional[Sequence[str]] = None,
                    update: bool = False) -> pd.DataFrame:
    """Test accuracy of zoo models on their datasets as the data code builds them now.

    With ``update`` the manifest's accuracy / test_loss / test_items are replaced (the value from
    the build is kept as ``build_accuracy``): needed when a dataset's generator changed after the
    zoo was built. Model files are not touched, so their sha256 stay valid."""
    from .data import load_dataset
    from .train import evaluate

    root = zoo_dir(path)
    entries = manifest(root)["models"]
    rows = []
    for name in names or list(entries):
        e = entries[name]
        model = load(name, path=root)
        data = load_dataset(e["dataset"], "test", spec=model.config.input, size=e["recipe"].get("data_size"))
        r = evaluate(model, data)
        rows.append({"name": name, "accuracy": r["acc"], "manifest_accuracy": e.get("accuracy"), "test_items": r["n"]})
        if update and (r["acc"] != e.get("accuracy") or r["n"] != e.get("test_items")):
            e.setdefault("build_accuracy", e.get("accuracy"))
            e.update(accuracy=r["acc"], test_loss=r["loss"], test_items=r["n"])
    if update:
        _write_manifest(root, entries)
    return pd.DataFrame(rows)


def _write_manifest(root: Path, entries: dict[str, Any]) -> None:
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"format": FORMAT, "models": entries}, indent=1) + "\n")
    os.replace(tmp, root / MANIFEST)


def _train_one(recipe: Recipe, root: Path, progress: bool, device: str) -> dict[str, Any]:
    from .data import load_dataset
    from .pathways import attach_pathways, count_parameters
    from .train import LOG_FILE, TrainConfig, evaluate, fit

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
    save_checkpoint(model, root / file, dtype=torch.float16,
                    extra={"zoo_name": recipe.name, "recipe": asdict(recipe)})
    shutil.copyfile(root / ".build" / recipe.name / LOG_FILE, root / log)
    shutil.rmtree(root / ".build" / recipe.name, ignore_errors=True)
    # The accuracy recorded is that of the stored (fp16) file, exactly as zoo.load returns it.
    stored = load_checkpoint(root / file)
    test = evaluate(stored, splits["test"])
    return {"file": file, "log": log, "dataset": recipe.dataset, "size": recipe.size,
            "modality": train.modality, "auxiliary": recipe.aux,
            "auxiliary_modality": (model.pathway_info or {}).get("modality") if recipe.aux else None,
            "accuracy": test["acc"], "test_loss": test["loss"], "test_items": test["n"], "val_accuracy": result.final.get("val_acc"),
            "training_time_s": round(result.train_time_s, 1), "epochs": recipe.epochs,
            "params": count_parameters(stored)[1], "bytes": (root / file).stat().st_size,
            "sha256": sha256(root / file), "log_sha256": sha256(root / log), "recipe": asdict(recipe),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "device": device}


def create_zoo_model(recipe: Recipe, train) -> MultimodalViT:
    from .model import create_model
    return create_model(recipe.size, train.modality, len(train.classes), input=train.spec,
                        class_names=list(train.classes), dataset=recipe.dataset)


def build(path: Optional[Union[str, Path]] = None, names: Optional[Sequence[str]] = None,
          force: bool = False, threads: int = 1, progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Train the zoo models (all, or ``names``) into the zoo folder and update the manifest.

    A model whose file matches its manifest entry and recipe is kept (so an interrupted build
    continues); ``force`` retrains. ``threads`` is fixed because CPU results depend on it."""
    root = zoo_dir(path, must_exist=False)
    root.mkdir(parents=True, exist_ok=True)
    wanted = list(names) if names else [r.name for r in RECIPES]
    unknown = [n for n in wanted if n not in RECIPE_BY_NAME]
    if unknown:
        raise KeyError(f"Unknown zoo model(s) {unknown}; the zoo builds: {', '.join(RECIPE_BY_NAME)}.")
    entries = _entries(root)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for recipe in RECIPES:
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
            entries[recipe.name] = {"name": recipe.name, **_train_one(recipe, root, progress, device)}
            _write_manifest(root, entries)
            if progress:
                print(f"[zoo] {recipe.name}: test acc {entries[recipe.name]['accuracy']:.4f} "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
    finally:
        torch.set_num_threads(old_threads)
        shutil.rmtree(root / ".build", ignore_errors=True)
    return manifest(root)
