"""``load_file``: any supported file -> the canonical model input of its modality.

The single entry point for uploads, folder datasets and the CLI: size check, format sniffing
(the extension must agree with the content), decoding, then the same preprocessing as the
built-in datasets.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import InputFileError
from ..modalities import SPEC_CLASSES, InputSpec, check_modality, default_spec
from .formats import (
    AUDIO_FORMATS, EXTENSIONS, IMAGE_FORMATS, VIDEO_FORMATS, check_content_matches, describe_format,
    detect_modality, read_head, sniff_format,
)
from .limits import DEFAULT_MAX_BYTES, check_file
from .pointfiles import read_numpy_points, read_off, read_ply, read_text_points
from .preprocess import preprocess_audio, preprocess_image, preprocess_points, preprocess_video
from .readers import read_audio, read_image, read_video

MODALITY_FORMATS: dict[str, frozenset[str]] = {
    "image": IMAGE_FORMATS,
    "audio": AUDIO_FORMATS,
    "video": VIDEO_FORMATS,
    "pointcloud": frozenset({"ply", "off", "text", "npy", "npz"}),
}


def spec_modality(spec: InputSpec) -> str:
    """The modality whose spec class ``spec`` is an instance of."""
    for modality, cls in SPEC_CLASSES.items():
        if isinstance(spec, cls):
            return modality
    raise TypeError(f"Unknown spec type {type(spec).__name__}; expected one of {[c.__name__ for c in SPEC_CLASSES.values()]}.")


def _resolve_modality(path: Path, modality: str | None, fmt: str | None) -> str:
    if modality is None:
        return detect_modality(path)
    check_modality(modality)
    ext = path.suffix.lower()
    if ext in EXTENSIONS:
        check_content_matches(path, fmt, EXTENSIONS[ext][1])
    if fmt not in MODALITY_FORMATS[modality]:
        raise InputFileError(
            f"{path.name}: expected {'an' if modality[0] in 'aeiou' else 'a'} {modality} file, "
            f"but the content is {describe_format(fmt)}; "
            f"{modality} files may be: {', '.join(sorted(describe_format(f) for f in MODALITY_FORMATS[modality]))}."
        )
    return modality


def _decode(path: Path, modality: str, fmt: str | None, spec: InputSpec) -> torch.Tensor:
    if modality == "image":
        return preprocess_image(read_image(path), spec)
    if modality == "audio":
        wave, sr = read_audio(path)
        return preprocess_audio(wave, sr, spec)
    if modality == "video":
        return preprocess_video(read_video(path, spec.num_frames), spec)
    if fmt == "ply":
        points = read_ply(path)
    elif fmt == "off":
        points = read_off(path, spec.num_points)
    elif fmt in ("npy", "npz"):
        points = read_numpy_points(path)
    else:
        points = read_text_points(path)
    return preprocess_points(points, spec)


def load_file(
    path: str | os.PathLike,
    modality: str | None = None,
    spec: InputSpec | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> torch.Tensor:
    """Read a file and preprocess it to ``spec.input_shape`` (float32).

    ``modality`` defaults to the spec's modality, else to ``detect_modality(path)``; ``spec``
    defaults to ``default_spec(modality)``. Raises ``InputFileError`` (naming the file, what was
    expected and what was found) for anything unreadable: missing, empty, larger than
    ``max_bytes``, mislabelled, truncated or undecodable files, NaN/inf values, absurd sizes,
    silent audio, too few points or frames.
    """
    p = check_file(path, max_bytes)
    if spec is not None:
        from_spec = spec_modality(spec)
        if modality is not None and modality != from_spec:
            raise ValueError(f"modality={modality!r} but the spec is a {from_spec} spec; pass matching values.")
        modality = from_spec
    fmt = sniff_format(read_head(p))
    modality = _resolve_modality(p, modality, fmt)
    spec = spec if spec is not None else default_spec(modality)
    try:
        return _decode(p, modality, fmt, spec)
    except InputFileError as e:
        msg = str(e)
        if msg.startswith(p.name + ":"):
            raise
        raise InputFileError(f"{p.name}: {msg}") from None
