"""``sounds``: procedurally synthesised 1 s audio clips in 12 classes.

Each clip is one sound event (random onset, duration, pitch and gain) over background noise
of random colour and level; waveforms go through the same ``preprocess_audio`` as files. Item
``i`` is generated from its own seeded generator and has label ``i % 12``, so any item can be
regenerated alone (for sample files) and the classes are balanced.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..modalities import AudioSpec
from .preprocess import preprocess_audio
from .registry import register_dataset

SOUND_CLASSES = (
    "pure_tone", "rising_chirp", "falling_chirp", "am_tone", "fm_tone", "harmonic_stack",
    "white_noise_burst", "brown_noise_burst", "click_train", "tone_in_noise", "band_noise", "beeps",
)


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS -> (n,)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return x / (x.std() + 1e-12)


def _band_noise(rng: np.random.Generator, n: int, sr: int, fc: float, rel_bw: float) -> np.ndarray:
    """White noise kept only in a Gaussian band around ``fc`` (Hz), unit RMS -> (n,)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    x = np.fft.irfft(spec * np.exp(-0.5 * ((f - fc) / (rel_bw * fc)) ** 2), n)
    return x / (x.std() + 1e-12)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _event(label: int, rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """The sound of one class over local time ``t`` (seconds from event onset) -> (len(t),)."""
    n = len(t)
    dur = t[-1] + 1.0 / sr
    name = SOUND_CLASSES[label]
    if name == "pure_tone":
        return np.sin(2 * np.pi * _loguniform(rng, 150, 4000) * t + rng.uniform(0, 2 * np.pi))
    if name in ("rising_chirp", "falling_chirp"):
        f0 = _loguniform(rng, 150, 1200) if name == "rising_chirp" else _loguniform(rng, 800, 6000)
        k = rng.uniform(2.0, 5.0) if name == "rising_chirp" else 1.0 / rng.uniform(2.0, 5.0)
        # Exponential sweep f(t) = f0 * k**(t/dur); phase is its integral.
        return np.sin(2 * np.pi * f0 * dur / np.log(k) * (k ** (t / dur) - 1.0))
    if name == "am_tone":
        fm, depth = rng.uniform(4, 16), rng.uniform(0.6, 1.0)
        carrier = np.sin(2 * np.pi * _loguniform(rng, 200, 3000) * t)
        return (1 + depth * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi))) / 2 * carrier
    if name == "fm_tone":
        fc, fm = _loguniform(rng, 200, 3000), rng.uniform(3, 10)
        dev = rng.uniform(0.04, 0.12) * fc
        return np.sin(2 * np.pi * fc * t + dev / fm * np.sin(2 * np.pi * fm * t))
    if name == "harmonic_stack":
        f0 = _loguniform(rng, 90, 400)
        ks = np.arange(1, rng.integers(4, 11) + 1)
        ks = ks[ks * f0 < sr / 2 * 0.9]
        return (np.sin(2 * np.pi * f0 * ks[:, None] * t + rng.uniform(0, 2 * np.pi, (len(ks), 1))) / ks[:, None]).sum(0)
    if name == "white_noise_burst":
        return rng.standard_normal(n)
    if name == "brown_noise_burst":
        return _coloured_noise(rng, n, 2.0)
    if name == "click_train":
        x = np.zeros(n)
        period = int(sr / rng.uniform(4, 30))
        click = np.exp(-np.arange(int(0.002 * sr)) / (0.0004 * sr))      # 2 ms decaying click
        for start in range(int(rng.integers(0, period)), n - len(click), period):
            x[start:start + len(click)] += click * rng.choice([-1.0, 1.0])
        return x
    if name == "tone_in_noise":
        tone = np.sin(2 * np.pi * _loguniform(rng, 200, 3000) * t) * np.sqrt(2)
        return tone + 10 ** (-rng.uniform(-3, 6) / 20) * rng.standard_normal(n)
    if name == "band_noise":
        return _band_noise(rng, n, sr, _loguniform(rng, 300, 4000), rng.uniform(0.05, 0.2))
    if name == "beeps":
        f, x = _loguniform(rng, 300, 3000), np.zeros(n)
        beep = int(rng.uniform(0.04, 0.1) * sr)
        count = int(rng.integers(2, 6))
        gap = max((n - count * beep) // count, 1)
        ramp = np.sin(np.linspace(0, np.pi, beep))
        for j in range(count):
            s = j * (beep + gap)
            if s + beep <= n:
                x[s:s + beep] = ramp * np.sin(2 * np.pi * f * t[:beep])
        return x
    raise AssertionError(name)


def synthesize(i: int, seed: int, sample_rate: int, seconds: float = 1.0) -> tuple[np.ndarray, int]:
    """Waveform of item ``i`` -> ((samples,) float32 with peak below 1, label ``i % 12``)."""
    label = i % len(SOUND_CLASSES)
    rng = np.random.default_rng([seed, i, 7001])
    n = int(round(seconds * sample_rate))
    dur = rng.uniform(0.3, 0.75) * seconds
    onset = rng.uniform(0.0, seconds - dur)
    if SOUND_CLASSES[label] == "white_noise_burst":
        dur = rng.uniform(0.08, 0.35) * seconds
        onset = rng.uniform(0.0, seconds - dur)
    start, m = int(onset * sample_rate), max(int(dur * sample_rate), 16)
    m = min(m, n - start)
    t = np.arange(m) / sample_rate
    ev = _event(label, rng, t, sample_rate)
    ramp = max(int(rng.uniform(0.005, 0.04) * sample_rate), 1)            # attack / release
    env = np.ones(m)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[-ramp:] = np.minimum(env[-ramp:], np.linspace(1, 0, ramp))
    ev = ev * env / (np.sqrt(np.mean((ev * env) ** 2)) + 1e-12)           # unit RMS event
    x = np.zeros(n)
    x[start:start + m] = ev
    snr_db = rng.uniform(3.0, 30.0)                                       # event vs background
    x += 10 ** (-snr_db / 20) * _coloured_noise(rng, n, rng.uniform(0.0, 2.0))
    gain = _loguniform(rng, 0.03, 0.9)
    x = x / np.abs(x).max() * gain
    return x.astype(np.float32), label


def _items(ids: Sequence[int], spec: AudioSpec, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = [], []
    for i in ids:
        wave, label = synthesize(i, seed, spec.sample_rate, spec.clip_seconds)
        X.append(preprocess_audio(torch.from_numpy(wave)[None], spec.sample_rate, spec))  # (1, F, T)
        y.append(label)
    return torch.stack(X), torch.tensor(y, dtype=torch.int64)


def _raw(indices: Sequence[int], spec: AudioSpec, seed: int) -> list[np.ndarray]:
    return [synthesize(i, seed, spec.sample_rate, spec.clip_seconds)[0] for i in indices]


register_dataset(
    "sounds", "audio", SOUND_CLASSES, items=_items, labels_of=lambda ids: np.asarray(ids) % len(SOUND_CLASSES),
    description="Generated 1 s sounds, 12 classes (tones, chirps, modulations, noises, clicks, beeps).",
    default_size=3000, raw=_raw,
)
