"""Plotly figures of one input as a person would look at it: an image; a waveform and its
spectrogram; a rotatable 3-D point scatter; a strip of video frames. Used by the dashboard's
"Try a sample" panel and by the notebooks."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

_MARGIN = dict(l=10, r=10, t=40, b=10)
# Longest side of an image as drawn: the model sees a small resized copy anyway, and a full-size
# photo would be sent to the browser pixel by pixel (an 8000×8000 PNG made a 341 MB response).
DISPLAY_MAX_SIDE = 384


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)


def _png_source(pixels: np.ndarray) -> str:
    """(H, W) or (H, W, 3) uint8 as a PNG data URI: a few KB where a list of numbers is MBs."""
    import base64
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bounded(arr: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """``arr`` (H, W[, C]) strided down so that no side exceeds ``max_side`` (display only)."""
    step = -(-max(arr.shape[:2]) // max_side)                           # ceil
    return arr[::step, ::step] if step > 1 else arr


def image_figure(image: Any, title: str = "image") -> go.Figure:
    """An image given as (H, W), (H, W, C) or a model input (C, H, W) tensor, drawn at most
    DISPLAY_MAX_SIDE pixels on its longest side (small grey images as a heatmap with values)."""
    arr = _np(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)                                   # (C, H, W) → (H, W, C)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    arr = _bounded(arr)
    if arr.ndim == 2 and max(arr.shape) <= 64:
        fig = go.Figure(go.Heatmap(z=arr, colorscale="gray", showscale=False))
        fig.update_yaxes(autorange="reversed")
    else:
        lo, hi = float(arr.min()), float(arr.max())
        pixels = ((arr - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
        fig = go.Figure(go.Image(source=_png_source(pixels)))
    fig.update_xaxes(visible=False, scaleanchor="y", constrain="domain")
    fig.update_yaxes(visible=False, constrain="domain")
    fig.update_layout(title=title, margin=_MARGIN, height=360)
    return fig


def audio_figure(waveform: Any, sample_rate: int, spectrogram: Optional[Any] = None,
                 title: str = "audio") -> go.Figure:
    """Waveform (samples,) or (channels, samples) above its log-mel spectrogram (1, F, T) or (F, T)."""
    wave = _np(waveform)
    wave = wave.mean(axis=0) if wave.ndim == 2 else wave                 # (samples,)
    rows = 2 if spectrogram is not None else 1
    fig = make_subplots(rows=rows, cols=1, vertical_spacing=0.24,   # room for row 1's axis title below it
                        subplot_titles=["waveform", "log-mel spectrogram (model input)"][:rows])
    step = max(1, len(wave) // 4000)                                     # keep the plot light
    t = np.arange(0, len(wave), step) / sample_rate
    fig.add_trace(go.Scatter(x=t, y=wave[::step], mode="lines", line=dict(width=1), name="waveform"), 1, 1)
    fig.update_xaxes(title_text="seconds", row=1, col=1)
    if spectrogram is not None:
        spec = _np(spectrogram)
        spec = spec[0] if spec.ndim == 3 else spec                       # (F, T)
        fig.add_trace(go.Heatmap(z=spec, colorscale="Viridis", showscale=False, name="log-mel"), 2, 1)
        fig.update_xaxes(title_text="frame (10 ms)", row=2, col=1)
        fig.update_yaxes(title_text="mel bin", row=2, col=1)
    fig.update_layout(title=title, margin=_MARGIN, height=420, showlegend=False)
    return fig


def pointcloud_figure(points: Any, title: str = "point cloud") -> go.Figure:
    """A rotatable 3-D scatter of (P, 3) points, coloured by height."""
    p = _np(points).reshape(-1, 3)
    fig = go.Figure(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers",
                                 marker=dict(size=2.5, color=p[:, 2], colorscale="Viridis")))
    fig.update_layout(title=title, margin=_MARGIN, height=420,
                      scene=dict(aspectmode="data", xaxis_title="x", yaxis_title="y", zaxis_title="z"))
    return fig


def video_figure(video: Any, title: str = "video frames", max_frames: int = 8) -> go.Figure:
    """A strip of frames from a (C, T, H, W) model input or (T, H, W[, C]) frames."""
    v = _np(video)
    if v.ndim == 4 and v.shape[0] in (1, 3) and v.shape[-1] not in (1, 3):
        v = np.moveaxis(v, 0, -1)                                        # (C, T, H, W) → (T, H, W, C)
    if v.ndim == 4 and v.shape[-1] == 1:
        v = v[..., 0]
    idx = np.linspace(0, len(v) - 1, min(max_frames, len(v))).round().astype(int)
    frames = v[idx]
    gap = np.full_like(frames[0][:, :2], frames.min())
    strip = np.concatenate([np.concatenate([f, gap], axis=1) for f in frames], axis=1)[:, :-2]
    fig = image_figure(strip, title=f"{title} ({len(idx)} of {len(v)} frames, left to right)")
    fig.update_layout(height=220)
    return fig


def input_figure(modality: str, x: torch.Tensor, path: Optional[Union[str, Path]] = None,
                 title: Optional[str] = None) -> go.Figure:
    """The figure for one preprocessed input ``x`` of ``modality``; ``path`` adds the raw view
    where it is more faithful (the original image, the audio waveform)."""
    name = title or (Path(path).name if path is not None else modality)
    if modality == "image":
        if path is not None:
            return image_figure(_display_image(Path(path), "RGB" if _is_colour(x) else "L"), name)
        return image_figure(x, name)
    if modality == "audio":
        if path is not None:
            from ..data.readers import read_audio
            wave, sr = read_audio(Path(path))
            return audio_figure(wave, sr, x, name)
        return audio_figure(np.zeros(1), 1, x, name)
    if modality == "pointcloud":
        return pointcloud_figure(x, name)
    if modality == "video":
        return video_figure(x, name)
    raise ValueError(f"Unknown modality {modality!r}; expected image, audio, pointcloud or video.")


def _display_image(path: Path, mode: str) -> np.ndarray:
    """The file's first frame, decoded at (about) display size: JPEG decodes at a reduced scale
    (draft), anything else is shrunk right after decoding, so no full-size copy is kept."""
    from PIL import Image
    with Image.open(path) as im:
        im.draft(mode, (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
        im.seek(0)
        im.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
        return np.asarray(im.convert(mode))


def _is_colour(x: torch.Tensor) -> bool:
    return x.ndim == 3 and x.shape[0] == 3
