"""Limits that every loader enforces, and small checks shared by readers and preprocessors.

The limits protect the app and the CLI from files that would exhaust memory or time (a 50 MB
upload can decode to many GB) and from inputs that cannot mean anything (three points, one
frame, a silent clip). Each check raises ``InputFileError`` saying what was expected and found.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024   # largest file any loader reads
MAX_IMAGE_SIDE = 10_000                # pixels, either side of an image
MAX_VIDEO_SIDE = 4_096                 # pixels, either side of a video frame
MAX_VIDEO_FRAMES = 100_000             # frames in one video file
MIN_VIDEO_FRAMES = 2                   # one frame carries no motion: that is an image
MIN_POINTS = 8                         # fewer points cannot describe a shape
MAX_POINTS = 5_000_000                 # points in one cloud file
MAX_AUDIO_SECONDS = 600.0              # longest audio file decoded (the model uses ~1 s)
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
SILENCE_PEAK = 1e-6                    # |sample| below this everywhere means "silent"


def human_bytes(n: int) -> str:
    """``52428800`` -> ``'50.0 MB'`` (binary megabytes, as file managers show them)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def check_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """The path as a ``Path`` if it names a non-empty regular file of at most ``max_bytes``."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: file not found; expected an existing file.")
    if not p.is_file():
        raise InputFileError(f"{p}: is not a regular file; expected a file, found a directory or device.")
    size = p.stat().st_size
    if size == 0:
        raise InputFileError(f"{p.name}: the file is empty (0 bytes); expected file content.")
    if size > max_bytes:
        raise InputFileError(
            f"{p.name}: the file is {human_bytes(size)}, above the size limit of {human_bytes(max_bytes)} "
            f"(max_bytes={max_bytes}); expected a smaller file."
        )
    return p


def check_finite(array: np.ndarray, what: str) -> None:
    """Reject arrays holding NaN or infinity (a model would silently output NaN)."""
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise InputFileError(
            f"{what} contains {bad} non-finite value(s) (NaN or inf); expected finite numbers only."
        )
