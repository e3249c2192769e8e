"""Writers for each modality's file formats (sample files, tests, exporting generated data)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 as is; floats in [0, 1] scaled and rounded."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.round(x.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """(H, W) grey or (H, W, 3) RGB, uint8 or float in [0, 1] -> PNG/JPEG/... (by extension)."""
    Image.fromarray(_to_uint8(image)).save(path)
    return Path(path)


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """(samples,) or (channels, samples) float in [-1, 1] -> WAV/FLAC/OGG (by extension)."""
    import soundfile as sf

    w = np.asarray(waveform, dtype=np.float32)
    data = w if w.ndim == 1 else w.T                                     # soundfile wants (samples, channels)
    sf.write(str(path), data, int(sample_rate), subtype=None if Path(path).suffix.lower() == ".ogg" else subtype)
    return Path(path)


def write_ply(path: str | os.PathLike, points: np.ndarray, binary: bool = True) -> Path:
    """(N, 3) points -> PLY with float x, y, z vertices (binary little-endian or ascii)."""
    pts = np.asarray(points, dtype=np.float32)[:, :3]
    fmt = "binary_little_endian" if binary else "ascii"
    header = (f"ply\nformat {fmt} 1.0\ncomment written by m2pt_core\nelement vertex {len(pts)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n").encode("ascii")
    with open(path, "wb") as f:
        f.write(header)
        if binary:
            f.write(pts.astype("<f4").tobytes())
        else:
            f.write("".join(f"{x:.7g} {y:.7g} {z:.7g}\n" for x, y, z in pts).encode("ascii"))
    return Path(path)


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: float = 8.0) -> Path:
    """(T, H, W) grey or (T, H, W, 3) frames, uint8 or float in [0, 1] -> looping animated GIF.

    GIF stores 8-bit palettes: grey frames are lossless; identical consecutive frames are
    merged by Pillow, so give frames that differ.
    """
    imgs = [Image.fromarray(f) for f in _to_uint8(frames)]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0)
    return Path(path)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 8, codec: str | None = None) -> Path:
    """(T, H, W[, 3]) frames -> MP4 (H.264), WebM (VP9) or AVI (MPEG-4) with PyAV (lossy)."""
    import av

    rgb = _to_uint8(frames)
    if rgb.ndim == 3:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)                       # (T, H, W, 3)
    ext = Path(path).suffix.lower()
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(ext, "libx264")
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = rgb.shape[2], rgb.shape[1]
        stream.pix_fmt = "yuv420p"
        for f in rgb:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)
