"""Input specifications per modality: what a model expects and how a raw file becomes it.

One spec object travels inside every model config (and so inside every checkpoint), so that a
loaded model knows both the tensor shape its tokenizer needs and how to preprocess a file.

Canonical model inputs (one sample, batch dimension omitted):
    image        (C, H, W)      float
    audio        (1, F, T)      log-mel filterbank (F mel bins, T frames)
    pointcloud   (P, 3)         centred, unit-sphere scaled
    video        (C, T, H, W)   float
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Union

MODALITIES = ("image", "audio", "pointcloud", "video")


@dataclass
class ImageSpec:
    img_size: int = 28
    patch_size: int = 7
    in_chans: int = 1
    # Per-channel normalisation applied after scaling pixels to [0, 1].
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_chans, self.img_size, self.img_size)


@dataclass
class AudioSpec:
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    n_mels: int = 64            # F: mel bins (kaldi fbank num_mel_bins)
    n_frames: int = 96          # T: frames kept (10 ms shift, 25 ms window), cropped or padded
    patch_size: int = 16
    # Normalisation of the log-mel values (AudioMAE style: (x - mean) / (2 * std)).
    norm_mean: float = -6.0
    norm_std: float = 4.0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (1, self.n_mels, self.n_frames)


@dataclass
class PointCloudSpec:
    num_points: int = 512       # P: points after resampling
    num_groups: int = 16        # G: farthest-point-sampled centres = tokens
    group_size: int = 32        # k: nearest neighbours per centre

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.num_points, 3)


@dataclass
class VideoSpec:
    num_frames: int = 8
    img_size: int = 32
    in_chans: int = 1
    tubelet_size: int = 2       # frames per tubelet
    patch_size: int = 8         # pixels per tubelet side
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_chans, self.num_frames, self.img_size, self.img_size)


InputSpec = Union[ImageSpec, AudioSpec, PointCloudSpec, VideoSpec]

SPEC_CLASSES: dict[str, type] = {
    "image": ImageSpec,
    "audio": AudioSpec,
    "pointcloud": PointCloudSpec,
    "video": VideoSpec,
}


def check_modality(modality: str) -> str:
    if modality not in SPEC_CLASSES:
        raise ValueError(f"Unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}.")
    return modality


def default_spec(modality: str, **overrides: Any) -> InputSpec:
    """The default input spec of a modality, with some fields replaced."""
    cls = SPEC_CLASSES[check_modality(modality)]
    known = {f.name for f in fields(cls)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(
            f"Unknown {modality} input option(s) {sorted(unknown)}; expected some of {sorted(known)}."
        )
    return cls(**overrides)


def spec_to_dict(spec: InputSpec) -> dict[str, Any]:
    return asdict(spec)


def spec_from_dict(modality: str, data: dict[str, Any]) -> InputSpec:
    cls = SPEC_CLASSES[check_modality(modality)]
    known = {f.name for f in fields(cls)}
    # Tuples come back from JSON as lists; unknown keys from newer versions are ignored.
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return cls(**clean)
