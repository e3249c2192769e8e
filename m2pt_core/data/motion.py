"""``motion``: short clips of an MNIST digit moving in one of 12 ways.

Every class draws the object the same way (a random real digit, random size and tilt) and the
canvas wraps around (a torus), so the position, size and angle in any single frame have the
same distribution for all classes: only the change across frames tells the class. A moving
distractor blob, per-frame jitter and pixel noise make the task non-trivial. Frames are
rendered on a 32x32 canvas and go through the same ``preprocess_video`` as files.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..modalities import VideoSpec
from .images import mnist5k_arrays
from .preprocess import preprocess_video
from .registry import register_dataset

MOTION_CLASSES = (
    "right", "left", "up", "down", "up_right", "up_left", "down_right", "down_left",
    "rotate_cw", "rotate_ccw", "zoom_in", "zoom_out",
)
CANVAS = 32
_DIRECTIONS = {  # unit steps in image coordinates (x right, y down)
    "right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1),
    "up_right": (1, -1), "up_left": (-1, -1), "down_right": (1, 1), "down_left": (-1, 1),
}


def _params(i: int, seed: int, num_frames: int) -> dict:
    """Per-frame object centre, angle and scale, plus distractor and noise, of item ``i``."""
    label = i % len(MOTION_CLASSES)
    name = MOTION_CLASSES[label]
    rng = np.random.default_rng([seed, i, 7005])
    tt = np.arange(num_frames) - (num_frames - 1) / 2                     # (T,) centred time
    step = 7.0 / max(num_frames - 1, 1)                                   # same total motion for any T
    centre = rng.uniform(0, CANVAS, 2) + rng.normal(0, 0.3, (num_frames, 2))  # (T, 2) px, jittered
    angle = np.full(num_frames, np.deg2rad(rng.uniform(-25, 25)))
    scale = np.full(num_frames, rng.uniform(0.5, 0.65))
    if name in _DIRECTIONS:
        v = np.array(_DIRECTIONS[name], float)
        centre = centre + np.outer(tt, v / np.linalg.norm(v) * rng.uniform(1.0, 2.2) * step)
    elif name.startswith("rotate"):
        omega = np.deg2rad(rng.uniform(8, 18)) * step * (1 if name == "rotate_cw" else -1)
        angle = angle + omega * tt
    else:
        rate = rng.uniform(0.05, 0.1) * step * (1 if name == "zoom_in" else -1)
        scale = scale * np.exp(rate * tt)
    blob_v = rng.normal(0, 1.2, 2) * step
    return {
        "label": label, "digit": int(rng.integers(0, 5000)), "centre": centre, "angle": angle,
        "scale": scale, "blob": rng.uniform(0, CANVAS, 2) + np.outer(tt, blob_v),
        "blob_level": rng.uniform(0.3, 0.9), "noise": rng.uniform(0.03, 0.12),
        "noise_seed": int(rng.integers(2**31)),
    }


def _wrap(d: torch.Tensor) -> torch.Tensor:
    """Displacements on the torus canvas, into [-CANVAS/2, CANVAS/2)."""
    return torch.remainder(d + CANVAS / 2, CANVAS) - CANVAS / 2


def render(params: list[dict]) -> np.ndarray:
    """Frames of the given items -> (B, T, 32, 32) float32 in [0, 1]."""
    digits, _ = mnist5k_arrays()
    b, t = len(params), len(params[0]["angle"])
    sprite = torch.from_numpy(digits[[p["digit"] for p in params]]).float().div(255)   # (B, 28, 28)
    sprite = sprite[:, None].repeat_interleave(t, 0)                                   # (B*T, 1, 28, 28)
    centre = torch.tensor(np.stack([p["centre"] for p in params]), dtype=torch.float32).reshape(-1, 1, 1, 2)
    angle = torch.tensor(np.stack([p["angle"] for p in params]), dtype=torch.float32).reshape(-1, 1, 1)
    scale = torch.tensor(np.stack([p["scale"] for p in params]), dtype=torch.float32).reshape(-1, 1, 1)
    pix = torch.arange(CANVAS, dtype=torch.float32) + 0.5
    grid = torch.stack(torch.meshgrid(pix, pix, indexing="xy"), dim=-1)[None]         # (1, 32, 32, 2) x, y
    q = _wrap(grid - centre)                                                           # (B*T, 32, 32, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Inverse rotation and scale: canvas offset -> sprite offset (px), then to grid_sample units.
    u = torch.stack([cos * q[..., 0] + sin * q[..., 1], -sin * q[..., 0] + cos * q[..., 1]], -1) / scale[..., None]
    frames = F.grid_sample(sprite, u / 14.0, mode="bilinear", padding_mode="zeros", align_corners=False)
    frames = frames.reshape(b, t, CANVAS, CANVAS)
    blob = torch.tensor(np.stack([p["blob"] for p in params]), dtype=torch.float32).reshape(b, t, 1, 1, 2)
    level = torch.tensor([p["blob_level"] for p in params], dtype=torch.float32).reshape(b, 1, 1, 1)
    d2 = (_wrap(grid[None] - blob) ** 2).sum(-1)                                       # (B, T, 32, 32)
    frames = torch.maximum(frames, level * torch.exp(-d2 / (2 * 1.2**2)))
    out = frames.numpy()
    for k, p in enumerate(params):
        out[k] += np.random.default_rng(p["noise_seed"]).normal(0, p["noise"], out[k].shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def generate_clips(indices: Sequence[int], seed: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames and labels of items -> ((B, T, 32, 32) float32 in [0, 1], (B,) int64)."""
    params = [_params(i, seed, num_frames) for i in indices]
    return render(params), np.array([p["label"] for p in params], dtype=np.int64)


def _items(ids: Sequence[int], spec: VideoSpec, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = [], []
    ids = list(ids)
    for start in range(0, len(ids), 256):  # render in chunks: bounded memory
        frames, labels = generate_clips(ids[start:start + 256], seed, spec.num_frames)
        X.extend(preprocess_video(f, spec) for f in frames)              # each (C, T, H, W)
        y.extend(labels.tolist())
    return torch.stack(X), torch.tensor(y, dtype=torch.int64)


def _raw(indices: Sequence[int], spec: VideoSpec, seed: int) -> list[np.ndarray]:
    return list(generate_clips(indices, seed, spec.num_frames)[0])


register_dataset(
    "motion", "video", MOTION_CLASSES, items=_items, labels_of=lambda ids: np.asarray(ids) % len(MOTION_CLASSES),
    description="Generated 8-frame clips of a digit moving in 12 ways (shifts, rotations, zooms) on a wrapping canvas.",
    default_size=3000, raw=_raw,
)
