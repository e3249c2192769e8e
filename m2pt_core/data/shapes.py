"""``shapes3d``: point clouds sampled from 12 primitive surfaces with random pose and damage.

Each item samples a surface uniformly, then applies a mild anisotropic scale, a uniformly
random rotation, Gaussian jitter, a few outliers and the removal of a random cap (partial
view), and goes through the same ``preprocess_points`` as files. Item ``i`` has label
``i % 12`` and its own seeded generator.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..modalities import PointCloudSpec
from .geometry import random_rotation, sample_mesh_surface
from .preprocess import preprocess_points
from .registry import register_dataset

SHAPE_CLASSES = (
    "sphere", "ellipsoid", "cube", "cylinder", "cone", "torus",
    "pyramid", "octahedron", "capsule", "disc", "helix", "hemisphere",
)

Sampler = Callable[[np.random.Generator, int], np.ndarray]


def _sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.standard_normal((n, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _disc_points(rng: np.random.Generator, n: int, z: float = 0.0) -> np.ndarray:
    r, a = np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(a), r * np.sin(a), np.full(n, z)], axis=1)


def _by_area(rng: np.random.Generator, n: int, parts: list[tuple[float, Sampler]]) -> np.ndarray:
    """Sample n points from several surface parts in proportion to their areas."""
    areas = np.array([a for a, _ in parts])
    counts = rng.multinomial(n, areas / areas.sum())
    return np.concatenate([f(rng, k) for (_, f), k in zip(parts, counts)], axis=0)


def _cube(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.uniform(-1, 1, (n, 3))
    axis = rng.integers(0, 3, n)
    p[np.arange(n), axis] = rng.choice([-1.0, 1.0], n)
    return p


def _cylinder(rng: np.random.Generator, n: int) -> np.ndarray:
    h = rng.uniform(0.6, 1.5)  # half height, radius 1

    def side(r: np.random.Generator, k: int) -> np.ndarray:
        a = r.uniform(0, 2 * np.pi, k)
        return np.stack([np.cos(a), np.sin(a), r.uniform(-h, h, k)], axis=1)

    return _by_area(rng, n, [(4 * np.pi * h, side), (np.pi, lambda r, k: _disc_points(r, k, h)),
                             (np.pi, lambda r, k: _disc_points(r, k, -h))])


def _cone(rng: np.random.Generator, n: int) -> np.ndarray:
    height = rng.uniform(1.2, 2.5)

    def lateral(r: np.random.Generator, k: int) -> np.ndarray:
        s, a = np.sqrt(r.random(k)), r.uniform(0, 2 * np.pi, k)  # s: distance from apex (fraction)
        return np.stack([s * np.cos(a), s * np.sin(a), height * (1 - s)], axis=1)

    return _by_area(rng, n, [(np.pi * np.hypot(1.0, height), lateral), (np.pi, _disc_points)])


def _torus(rng: np.random.Generator, n: int) -> np.ndarray:
    R, r = 1.0, rng.uniform(0.2, 0.45)
    out = np.zeros((0, 3))
    while len(out) < n:  # rejection sampling: area element grows with R + r cos(phi)
        th, ph = rng.uniform(0, 2 * np.pi, (2, 2 * n))
        keep = rng.random(2 * n) < (R + r * np.cos(ph)) / (R + r)
        th, ph = th[keep], ph[keep]
        ring = R + r * np.cos(ph)
        out = np.concatenate([out, np.stack([ring * np.cos(th), ring * np.sin(th), r * np.sin(ph)], 1)])
    return out[:n]


def _mesh(vertices: np.ndarray, faces: np.ndarray) -> Sampler:
    return lambda rng, n: sample_mesh_surface(vertices, faces, n, rng)


def _pyramid(rng: np.random.Generator, n: int) -> np.ndarray:
    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0], [0, 0, rng.uniform(1.0, 2.0)]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return _mesh(v, f)(rng, n)


_OCTA_V = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
_OCTA_F = np.array([[a, b, c] for a in (0, 1) for b in (2, 3) for c in (4, 5)])


def _capsule(rng: np.random.Generator, n: int) -> np.ndarray:
    h = rng.uniform(0.8, 1.6)

    def side(r: np.random.Generator, k: int) -> np.ndarray:
        a = r.uniform(0, 2 * np.pi, k)
        return np.stack([np.cos(a), np.sin(a), r.uniform(-h, h, k)], axis=1)

    def caps(r: np.random.Generator, k: int) -> np.ndarray:
        p = _sphere(r, k)
        return p + np.where(p[:, 2:] >= 0, h, -h) * np.array([0, 0, 1.0])

    return _by_area(rng, n, [(4 * np.pi * h, side), (4 * np.pi, caps)])


def _helix(rng: np.random.Generator, n: int) -> np.ndarray:
    turns, half = rng.uniform(1.5, 3.5), rng.uniform(0.8, 1.5)
    t = rng.random(n)
    a = 2 * np.pi * turns * t
    p = np.stack([np.cos(a), np.sin(a), half * (2 * t - 1)], axis=1)
    return p + 0.07 * rng.standard_normal((n, 3))  # a thick wire, not a curve


def _hemisphere(rng: np.random.Generator, n: int) -> np.ndarray:
    def dome(r: np.random.Generator, k: int) -> np.ndarray:
        p = _sphere(r, k)
        p[:, 2] = np.abs(p[:, 2])
        return p

    return _by_area(rng, n, [(2 * np.pi, dome), (np.pi, _disc_points)])


SAMPLERS: dict[str, Sampler] = {
    "sphere": _sphere,
    "ellipsoid": lambda rng, n: _sphere(rng, n) * np.array([1.0, rng.uniform(0.45, 0.7), rng.uniform(0.2, 0.4)]),
    "cube": _cube,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "pyramid": _pyramid,
    "octahedron": _mesh(_OCTA_V, _OCTA_F),
    "capsule": _capsule,
    "disc": lambda rng, n: _disc_points(rng, n) + np.array([0, 0, 1.0]) * 0.02 * rng.standard_normal((n, 1)),
    "helix": _helix,
    "hemisphere": _hemisphere,
}


def generate_shape(i: int, seed: int, num_points: int) -> tuple[np.ndarray, int]:
    """Raw points of item ``i`` -> ((num_points, 3) float64, label ``i % 12``)."""
    label = i % len(SHAPE_CLASSES)
    rng = np.random.default_rng([seed, i, 7003])
    m = 2 * num_points
    p = SAMPLERS[SHAPE_CLASSES[label]](rng, m)                          # (M, 3) canonical pose
    p = p - p.mean(axis=0)
    p = p / np.linalg.norm(p, axis=1).max()
    p = p * np.exp(rng.uniform(-0.25, 0.25, 3))                         # anisotropic scale
    p = p @ random_rotation(rng).T                                      # random pose
    p = p + rng.uniform(0.005, 0.03) * rng.standard_normal(p.shape)     # sensor jitter
    n_out = int(rng.integers(0, int(0.02 * m) + 1))                     # stray outliers
    p[rng.choice(m, n_out, replace=False)] = rng.uniform(-1, 1, (n_out, 3))
    # Partial view: drop the points beyond a random plane (up to 30% of the shape).
    d = random_rotation(rng)[0]
    proj = p @ d
    keep = proj <= np.quantile(proj, 1.0 - rng.uniform(0.0, 0.3))
    p = p[keep]
    return p[np.sort(rng.choice(len(p), num_points, replace=False))], label


def _items(ids: Sequence[int], spec: PointCloudSpec, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = [], []
    for i in ids:
        pts, label = generate_shape(i, seed, spec.num_points)
        X.append(preprocess_points(pts, spec))                          # (P, 3)
        y.append(label)
    return torch.stack(X), torch.tensor(y, dtype=torch.int64)


def _raw(indices: Sequence[int], spec: PointCloudSpec, seed: int) -> list[np.ndarray]:
    return [generate_shape(i, seed, spec.num_points)[0] for i in indices]


register_dataset(
    "shapes3d", "pointcloud", SHAPE_CLASSES, items=_items, labels_of=lambda ids: np.asarray(ids) % len(SHAPE_CLASSES),
    description="Generated point clouds of 12 primitive surfaces with random pose, scale, jitter and dropout.",
    default_size=3000, raw=_raw,
)
