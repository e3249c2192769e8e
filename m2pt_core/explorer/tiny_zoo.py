"""A tiny zoo built in seconds (test-size models, a short training run), in the bundled zoo's
format: for tests and for trying the dashboard before ``m2pt zoo build`` has run."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Union

import torch

from ..zoo import MANIFEST, Recipe, build


def tiny_recipes(image_dataset: str = "digits", epochs: int = 5, data_size: int = 600) -> tuple[Recipe, ...]:
    """Image / audio baselines and an image M2PT model with audio pathways, test size, seconds each."""
    quick = dict(size="test", epochs=epochs, batch_size=32, lr=5e-3, warmup_epochs=0.2, lambda_lr_scale=30.0)
    return (Recipe(f"image-{image_dataset}", image_dataset, data_size=data_size, **quick),
            Recipe("audio-sounds", "sounds", data_size=200, **quick),
            Recipe(f"m2pt-{image_dataset}-audio", image_dataset, aux="audio-sounds", data_size=data_size, **quick))


def build_tiny_zoo(root: Union[str, Path], image_dataset: str = "digits", epochs: int = 5,
                   data_size: int = 600) -> Path:
    """Write the tiny_recipes models (fp32) plus their training logs and manifest.json into
    ``root`` with the zoo's own builder; returns root."""
    root = Path(root)
    build(root, recipes=tiny_recipes(image_dataset, epochs, data_size), threads=torch.get_num_threads(),
          progress=False, dtype=torch.float32)
    return root


def cached_tiny_zoo(base: Union[str, Path, None] = None) -> Path:
    """build_tiny_zoo into a per-version folder under the temp dir, once (shared by test files)."""
    import tempfile
    from ..version import __version__
    root = Path(base or tempfile.gettempdir()) / f"m2pt-tiny-zoo-{__version__}-{torch.__version__}"
    if not (root / MANIFEST).is_file():
        tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=root.name + ".tmp"))
        build_tiny_zoo(tmp)
        try:
            tmp.rename(root)
        except OSError:          # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return root
