"""Decoders for image, audio and video files -> raw arrays (before preprocessing).

Each reader checks the limits it can check cheaply *before* decoding (pixel size, duration,
frame count), and turns every decoder failure into an ``InputFileError`` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputFileError
from .limits import MAX_AUDIO_SECONDS, MAX_IMAGE_SIDE, MAX_VIDEO_FRAMES, MAX_VIDEO_SIDE, MIN_VIDEO_FRAMES
from .preprocess import sample_frame_indices


def read_image(path: Path) -> Image.Image:
    """The first frame of any PIL-readable image, fully decoded (so truncation is detected now)."""
    try:
        with Image.open(path) as im:
            if im.width > MAX_IMAGE_SIDE or im.height > MAX_IMAGE_SIDE or im.width < 1 or im.height < 1:
                raise InputFileError(
                    f"{path.name}: the image is {im.width}x{im.height} pixels; expected each side "
                    f"between 1 and {MAX_IMAGE_SIDE} pixels."
                )
            im.seek(0)
            im.load()
            return im.copy()
    except InputFileError:
        raise
    except Exception as e:  # UnidentifiedImageError, truncated data (OSError), SyntaxError, bombs...
        raise InputFileError(
            f"{path.name}: cannot decode the image ({type(e).__name__}: {e}); expected a complete, valid image file."
        ) from None


def _wav_data_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) sizes of a WAV's data chunk when the file holds less than declared.

    libsndfile silently reads what is there, so a cut-off WAV would pass as a shorter sound.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, n = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"data":
                present = size - f.tell()
                return (n, present) if present < n and n != 0xFFFFFFFF else None
            f.seek(n + (n & 1), 1)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """An audio file -> ((channels, samples) float32 waveform in [-1, 1], sample rate)."""
    import soundfile as sf

    short = _wav_data_shortfall(path)
    if short is not None:
        raise InputFileError(
            f"{path.name}: the WAV header declares {short[0]} bytes of samples but only {short[1]} are present; "
            f"the file is truncated (expected a complete file)."
        )
    try:
        info = sf.info(str(path))
        if info.frames <= 0:
            raise InputFileError(f"{path.name}: the audio is zero-length (0 samples); expected some sound.")
        seconds = info.frames / max(info.samplerate, 1)
        if seconds > MAX_AUDIO_SECONDS:
            raise InputFileError(
                f"{path.name}: the audio lasts {seconds:.0f} s; expected at most {MAX_AUDIO_SECONDS:.0f} s."
            )
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)   # (samples, channels)
    except InputFileError:
        raise
    except Exception as e:  # soundfile.LibsndfileError, RuntimeError, ...
        raise InputFileError(
            f"{path.name}: cannot decode the audio ({type(e).__name__}: {e}); expected a valid WAV, FLAC, OGG or MP3 file."
        ) from None
    if len(data) == 0:
        raise InputFileError(f"{path.name}: the audio is zero-length (0 samples); expected some sound.")
    if len(data) < info.frames * 0.99:
        raise InputFileError(
            f"{path.name}: the header promises {info.frames} samples but only {len(data)} could be read; "
            f"the file is truncated (expected the complete file)."
        )
    return np.ascontiguousarray(data.T), int(sr)                          # (channels, samples)


def read_video(path: Path, num_frames: int | None = None) -> np.ndarray:
    """A video file -> (T, H, W, 3) uint8 RGB frames.

    With ``num_frames`` only that many frames, spread uniformly over the clip, are kept (the same
    indices ``preprocess_video`` would pick), so long videos never sit in memory whole.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputFileError(f"{path.name}: no video stream found; expected a video file.")
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            if w > MAX_VIDEO_SIDE or h > MAX_VIDEO_SIDE:
                raise InputFileError(
                    f"{path.name}: video frames are {w}x{h} pixels; expected each side at most {MAX_VIDEO_SIDE}."
                )
            # Count frames by demuxing (cheap: no decoding); containers' frame counts are unreliable.
            total = 0
            for packet in container.demux(stream):
                total += packet.size > 0
                if total > MAX_VIDEO_FRAMES:
                    raise InputFileError(
                        f"{path.name}: more than {MAX_VIDEO_FRAMES} frames; expected a short clip."
                    )
        if total < MIN_VIDEO_FRAMES:
            raise InputFileError(f"{path.name}: the video has {total} frame(s); expected at least {MIN_VIDEO_FRAMES}.")
        if num_frames is None and total * max(w, 1) * max(h, 1) * 3 > 2**31:
            raise InputFileError(f"{path.name}: {total} frames of {w}x{h} would not fit in memory; expected num_frames to be given.")
        wanted = sample_frame_indices(total, num_frames) if num_frames else np.arange(total)
        keep = set(wanted.tolist())
        last = int(wanted.max())
        decoded: dict[int, np.ndarray] = {}
        seen = 0
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                seen = i + 1
                if i in keep:
                    decoded[i] = frame.to_ndarray(format="rgb24")        # (H, W, 3)
                if i >= last:
                    break
    except InputFileError:
        raise
    except Exception as e:  # av.error.InvalidDataError and friends
        raise InputFileError(
            f"{path.name}: cannot decode the video ({type(e).__name__}: {e}); expected a valid MP4, WebM, AVI or GIF file."
        ) from None
    if len(decoded) < min(MIN_VIDEO_FRAMES, len(keep)) or seen - 1 < 0.9 * last:
        raise InputFileError(
            f"{path.name}: the container lists {total} frames but only {seen} could be decoded; "
            f"the file is truncated or corrupt (expected a complete, valid file)."
        )
    # A last frame or two promised but not decodable (codec delay): reuse the nearest earlier one.
    have = sorted(decoded)
    frames = [decoded[max([k for k in have if k <= i] or have[:1])] for i in wanted.tolist()]
    return np.stack(frames, axis=0)                                       # (T, H, W, 3)
