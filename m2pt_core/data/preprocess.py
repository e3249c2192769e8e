"""Preprocessing: raw decoded data -> the canonical model input of each modality.

Datasets, uploads and the CLI all call these four functions, so an uploaded file is treated
exactly like a training sample. Each returns a float32 tensor of exactly ``spec.input_shape``
and raises ``InputFileError`` (saying what was expected and found) on input that cannot mean
anything: NaN values, absurd sizes, silent audio, too few points or frames.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchaudio
from PIL import Image

from ..errors import InputFileError
from ..modalities import AudioSpec, ImageSpec, PointCloudSpec, VideoSpec
from .limits import (
    MAX_IMAGE_SIDE, MAX_POINTS, MAX_SAMPLE_RATE, MAX_VIDEO_FRAMES, MAX_VIDEO_SIDE, MIN_POINTS,
    MIN_SAMPLE_RATE, MIN_VIDEO_FRAMES, SILENCE_PEAK, check_finite,
)

# ITU-R 601-2 luma, the weights PIL uses for RGB -> L.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ----------------------------------------------------------------------------------------- image
def _pil_to_array(img: Image.Image, in_chans: int) -> np.ndarray:
    """A PIL image as (H, W, C) float32 in [0, 1], keeping 16-bit and float precision."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
        return arr[..., None]
    if img.mode == "F":
        return np.asarray(img, dtype=np.float32)[..., None]
    # PIL resolves palettes, CMYK, alpha and 1-bit into grey or RGB; channel changes (RGB -> grey
    # luma) are left to _match_channels, so a PIL image and its array give the same tensor.
    if img.mode in ("1", "L", "LA", "La"):
        return np.asarray(img.convert("L"), dtype=np.float32)[..., None] / 255.0   # (H, W, 1)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0                # (H, W, 3)


def _array_to_hwc(arr: np.ndarray, what: str) -> np.ndarray:
    """Any (H, W), (H, W, C) or (C, H, W) image array as (H, W, C) float32 in [0, 1]."""
    if arr.ndim == 2:
        arr = arr[..., None]
    elif arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise InputFileError(
            f"{what} has shape {tuple(arr.shape)}; expected (H, W), (H, W, C) or (C, H, W) with C in 1, 3, 4."
        )
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        hi = int(arr.max()) if arr.size else 0
        if int(arr.min()) < 0 or hi > 65535:
            raise InputFileError(f"{what} has integer values outside 0..65535; expected 8- or 16-bit pixels.")
        return arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 or hi <= 255 else 65535.0)
    arr = arr.astype(np.float32)
    check_finite(arr, what)
    return arr


def _match_channels(x: np.ndarray, in_chans: int) -> np.ndarray:
    """(H, W, C) -> (H, W, in_chans): drop alpha, grey -> RGB by copying, RGB -> grey by luma."""
    if x.shape[-1] == 4:
        x = x[..., :3]
    c = x.shape[-1]
    if c == in_chans:
        return x
    if in_chans == 1:
        return (x @ _LUMA)[..., None]
    if in_chans == 3:
        return np.repeat(x, 3, axis=-1)
    raise ValueError(f"Unsupported in_chans={in_chans} in the spec; expected 1 (grey) or 3 (RGB).")


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) float -> (size, size, C), bilinear with antialiasing (PIL 'F' mode per channel)."""
    if x.shape[0] == size and x.shape[1] == size:
        return x
    out = [
        np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c])).resize((size, size), Image.BILINEAR))
        for c in range(x.shape[-1])
    ]
    return np.stack(out, axis=-1)


def _normalise(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    c = x.shape[-1]
    m = np.broadcast_to(np.asarray(mean, dtype=np.float32), (c,))
    s = np.broadcast_to(np.asarray(std, dtype=np.float32), (c,))
    return (x - m) / s


def _check_side(h: int, w: int, limit: int, what: str) -> None:
    if h < 1 or w < 1 or h > limit or w > limit:
        raise InputFileError(f"{what} is {w}x{h} pixels; expected each side between 1 and {limit} pixels.")


def preprocess_image(image: Any, spec: ImageSpec) -> torch.Tensor:
    """A PIL image, or an (H, W[, C]) / (C, H, W) array or tensor -> (C, H, W) float32.

    uint8 pixels are scaled to [0, 1] (float input is taken as already in [0, 1]), converted to
    ``spec.in_chans`` channels, resized to ``spec.img_size`` square (bilinear, no crop, so nothing is
    cut off) and normalised per channel by ``spec.mean`` / ``spec.std``.
    """
    if isinstance(image, Image.Image):
        _check_side(image.height, image.width, MAX_IMAGE_SIDE, "The image")
        x = _pil_to_array(image, spec.in_chans)                      # (H, W, C)
    else:
        arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        x = _array_to_hwc(arr, "The image")                          # (H, W, C)
        _check_side(x.shape[0], x.shape[1], MAX_IMAGE_SIDE, "The image")
    x = _resize(_match_channels(x, spec.in_chans), spec.img_size)    # (S, S, C)
    x = _normalise(x, spec.mean, spec.std)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))  # (C, S, S)


# ----------------------------------------------------------------------------------------- audio
def _fbank(wave: torch.Tensor, spec: AudioSpec) -> torch.Tensor:
    """(1, samples) -> (frames, n_mels) kaldi log-mel filterbank, AudioMAE settings."""
    return torchaudio.compliance.kaldi.fbank(
        wave, htk_compat=True, sample_frequency=spec.sample_rate, use_energy=False,
        window_type="hanning", num_mel_bins=spec.n_mels, dither=0.0, frame_shift=10.0,
        frame_length=25.0,
    )


def preprocess_audio(waveform: Any, sample_rate: int, spec: AudioSpec) -> torch.Tensor:
    """A (channels, samples) or (samples,) waveform -> (1, F, T) normalised log-mel, F = n_mels.

    Channels are averaged to mono, resampled to ``spec.sample_rate``, the first
    ``spec.clip_seconds`` are kept (zero-padded when shorter), and the kaldi fbank (hanning window,
    htk_compat, 10 ms shift, as AudioMAE) is cropped or zero-padded to ``spec.n_frames`` frames and
    normalised as ``(x - norm_mean) / (2 * norm_std)``.
    """
    wave = torch.as_tensor(np.asarray(waveform) if not isinstance(waveform, torch.Tensor) else waveform)
    wave = wave.detach().to(torch.float32).cpu()
    if wave.ndim == 1:
        wave = wave[None]                                            # (1, samples)
    if wave.ndim != 2 or wave.shape[0] > 64:
        raise InputFileError(
            f"The waveform has shape {tuple(wave.shape)}; expected (channels, samples) with at most 64 channels."
        )
    if wave.shape[1] == 0:
        raise InputFileError("The audio is zero-length (0 samples); expected at least some sound.")
    check_finite(wave.numpy(), "The audio")
    sample_rate = int(sample_rate)
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise InputFileError(
            f"The audio sample rate is {sample_rate} Hz; expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz."
        )
    wave = wave.mean(dim=0, keepdim=True)                            # (1, samples) mono
    if sample_rate != spec.sample_rate:
        wave = torchaudio.functional.resample(wave, sample_rate, spec.sample_rate)
    n = int(round(spec.clip_seconds * spec.sample_rate))
    wave = wave[:, :n] if wave.shape[1] >= n else torch.nn.functional.pad(wave, (0, n - wave.shape[1]))
    wave = wave - wave.mean()                                        # remove DC, as AudioMAE
    if float(wave.abs().max()) < SILENCE_PEAK:
        raise InputFileError(
            f"The audio is silent (all samples zero or constant) in the first {spec.clip_seconds:g} s "
            f"that the model uses; expected audible sound (peak above {SILENCE_PEAK:g})."
        )
    fb = _fbank(wave, spec)                                          # (frames, F)
    if fb.shape[0] >= spec.n_frames:
        fb = fb[: spec.n_frames]
    else:  # zero-padding in the log-mel domain, as AudioMAE does
        fb = torch.nn.functional.pad(fb, (0, 0, 0, spec.n_frames - fb.shape[0]))
    fb = (fb - spec.norm_mean) / (2.0 * spec.norm_std)
    return fb.T.contiguous()[None]                                   # (1, F, T)


# ----------------------------------------------------------------------------------- point cloud
def preprocess_points(points: Any, spec: PointCloudSpec, seed: int = 0) -> torch.Tensor:
    """An (N, 3+) array (x, y, z first; normals or colours ignored) -> (P, 3) float32.

    Resampled to ``spec.num_points`` (seeded choice without replacement when N > P; all points
    plus seeded repeats when N < P; unchanged when N == P), then centred on the mean and scaled
    so that the farthest point lies on the unit sphere.
    """
    arr = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[1] < 3 or not np.issubdtype(arr.dtype, np.number):
        raise InputFileError(
            f"The point cloud has shape {tuple(arr.shape)} and dtype {arr.dtype}; "
            f"expected a numeric (N, 3) array of x, y, z (extra columns are ignored)."
        )
    n = arr.shape[0]
    if n < MIN_POINTS:
        raise InputFileError(f"The point cloud has {n} point(s); expected at least {MIN_POINTS}.")
    if n > MAX_POINTS:
        raise InputFileError(f"The point cloud has {n} points; expected at most {MAX_POINTS}.")
    xyz = arr[:, :3].astype(np.float64)                              # (N, 3)
    check_finite(xyz, "The point cloud")
    p = spec.num_points
    if n != p:
        rng = np.random.default_rng(seed)
        if n > p:
            idx = np.sort(rng.choice(n, size=p, replace=False))
        else:
            idx = np.concatenate([np.arange(n), rng.choice(n, size=p - n, replace=True)])
        xyz = xyz[idx]                                               # (P, 3)
    xyz = xyz - xyz.mean(axis=0)
    radius = float(np.sqrt((xyz**2).sum(axis=1)).max())
    if radius < 1e-12:
        raise InputFileError(f"All {n} points of the point cloud coincide; expected a shape with extent.")
    return torch.from_numpy((xyz / radius).astype(np.float32))      # (P, 3)


# ----------------------------------------------------------------------------------------- video
def sample_frame_indices(total: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread uniformly over ``total`` frames (repeats when total is smaller)."""
    return np.linspace(0, total - 1, num_frames).round().astype(np.int64)


def preprocess_video(frames: Any, spec: VideoSpec) -> torch.Tensor:
    """(T, H, W[, C]) frames (uint8, or float in [0, 1]) -> (C, T', H', W') float32, T' = num_frames.

    ``spec.num_frames`` frames are taken uniformly over the clip, and each is converted to
    ``spec.in_chans`` channels, resized and normalised exactly as ``preprocess_image`` does.
    """
    arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[..., None]                                         # (T, H, W, 1)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise InputFileError(
            f"The video has shape {tuple(arr.shape)}; expected frames as (T, H, W) or (T, H, W, C), C in 1, 3, 4."
        )
    t, h, w = arr.shape[:3]
    if t < MIN_VIDEO_FRAMES:
        raise InputFileError(f"The video has {t} frame(s); expected at least {MIN_VIDEO_FRAMES}.")
    if t > MAX_VIDEO_FRAMES:
        raise InputFileError(f"The video has {t} frames; expected at most {MAX_VIDEO_FRAMES}.")
    _check_side(h, w, MAX_VIDEO_SIDE, "The video frame")
    picked = arr[sample_frame_indices(t, spec.num_frames)]           # (T', H, W, C)
    out = []
    for frame in picked:
        x = _match_channels(_array_to_hwc(frame, "The video frame"), spec.in_chans)
        out.append(_normalise(_resize(x, spec.img_size), spec.mean, spec.std))  # (S, S, C)
    video = np.stack(out, axis=0).transpose(3, 0, 1, 2)              # (C, T', S, S)
    return torch.from_numpy(np.ascontiguousarray(video, dtype=np.float32))
