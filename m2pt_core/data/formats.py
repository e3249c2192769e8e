"""File formats: which extensions belong to which modality, and what a file's bytes really are.

The extension is a claim; the first bytes are evidence. ``sniff_format`` names the container
from its magic bytes, so a ``.png`` that is really text (or a WAV renamed ``.jpg``) is rejected
with a message naming both, instead of failing deep inside a decoder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputFileError

IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "bmp", "webp", "tiff"})
AUDIO_FORMATS = frozenset({"wav", "flac", "ogg", "mp3"})
VIDEO_FORMATS = frozenset({"mp4", "webm", "avi", "gif"})

# extension -> (modality, formats its content may have). Images may carry any image format and
# audio any audio format (decoders detect by content; mislabelled jpg/png are common and harmless),
# but point-cloud readers are chosen by format, so their extensions must match exactly.
EXTENSIONS: dict[str, tuple[str, frozenset[str]]] = {
    **{e: ("image", IMAGE_FORMATS) for e in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")},
    ".gif": ("image", frozenset({"gif"})),  # animated GIFs are detected as video, see detect_modality
    **{e: ("audio", AUDIO_FORMATS) for e in (".wav", ".flac", ".ogg", ".oga", ".mp3")},
    ".ply": ("pointcloud", frozenset({"ply"})),
    ".off": ("pointcloud", frozenset({"off"})),
    **{e: ("pointcloud", frozenset({"text"})) for e in (".xyz", ".txt", ".csv", ".pts")},
    ".npy": ("pointcloud", frozenset({"npy"})),
    ".npz": ("pointcloud", frozenset({"npz"})),
    **{e: ("video", frozenset({"mp4"})) for e in (".mp4", ".m4v", ".mov")},
    **{e: ("video", frozenset({"webm"})) for e in (".webm", ".mkv")},
    ".avi": ("video", frozenset({"avi"})),
}

FORMAT_MODALITY: dict[str, str] = {
    **{f: "image" for f in IMAGE_FORMATS},
    **{f: "audio" for f in AUDIO_FORMATS},
    **{f: "video" for f in ("mp4", "webm", "avi")},
    **{f: "pointcloud" for f in ("ply", "off", "npy", "npz", "text")},
}

FORMAT_NAMES: dict[str, str] = {
    "png": "PNG image", "jpeg": "JPEG image", "gif": "GIF image", "bmp": "BMP image",
    "webp": "WebP image", "tiff": "TIFF image", "wav": "WAV audio", "flac": "FLAC audio",
    "ogg": "Ogg audio", "mp3": "MP3 audio", "mp4": "MP4/QuickTime video", "webm": "WebM/Matroska video",
    "avi": "AVI video", "ply": "PLY point cloud", "off": "OFF mesh", "npy": "NumPy .npy array",
    "npz": "NumPy .npz archive", "text": "plain text",
}

SNIFF_BYTES = 512
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the window is still text.
        return e.start >= len(head) - 3


def sniff_format(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, or ``None`` when unrecognised binary."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM") and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}.get(head[8:12])
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp" or (head[4:8] in (b"moov", b"mdat", b"wide", b"free") and not _is_text(head)):
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        return "ply"
    if _is_text(head):
        first = head.lstrip().split(maxsplit=1)[:1]
        # OFF and its variants (COFF, NOFF, CNOFF, STOFF, 4OFF...; ModelNet's glued "OFF490").
        if first and re.fullmatch(rb"[A-Z4]{0,4}OFF[0-9]*", first[0].upper()):
            return "off"
        return "text"
    return None


def read_head(path: str | os.PathLike, n: int = SNIFF_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def describe_format(fmt: str | None) -> str:
    return FORMAT_NAMES.get(fmt, fmt) if fmt else "unrecognised binary data"


def _gif_is_animated(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    except Exception:  # undecodable: let the image reader raise the precise error
        return False


def detect_modality(path: str | os.PathLike) -> str:
    """The modality of a file: from its extension when known, else from its content.

    An animated GIF is a video, a single-frame GIF an image. Raises ``InputFileError`` when neither
    the extension nor the content names a supported format, or when they contradict each other.
    """
    from .limits import check_file

    p = check_file(path, max_bytes=2**62)  # exists, is a file, not empty (size is load_file's job)
    fmt = sniff_format(read_head(p))
    ext = p.suffix.lower()
    if ext in EXTENSIONS:
        modality, allowed = EXTENSIONS[ext]
        check_content_matches(p, fmt, allowed)
    elif fmt is not None and fmt in FORMAT_MODALITY:
        modality = FORMAT_MODALITY[fmt]
        if fmt == "text":
            modality = "pointcloud"  # the only text format we read: x,y,z lines
    else:
        known = ", ".join(sorted(EXTENSIONS))
        raise InputFileError(
            f"{p.name}: unknown file type (extension {ext or 'none'!r}, content: {describe_format(fmt)}); "
            f"expected one of these extensions: {known}."
        )
    if fmt == "gif" and _gif_is_animated(p):
        return "video"
    return modality


def check_content_matches(path: Path, fmt: str | None, allowed: frozenset[str]) -> None:
    """Reject a file whose content is not one of the formats its extension promises."""
    if fmt not in allowed:
        want = " or ".join(sorted(describe_format(f) for f in allowed))
        raise InputFileError(
            f"{path.name}: expected {want} content (from the extension {path.suffix!r}), "
            f"but the content is {describe_format(fmt)}; the file is mislabelled or corrupt."
        )
