"""Built-in datasets and the four preprocessing functions (fast: small generated sizes)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from m2pt_core.data import (
    dataset_info, list_datasets, load_dataset, preprocess_audio, preprocess_image, preprocess_points,
    preprocess_video, raw_items, register_dataset, stratified_split,
)
from m2pt_core.data import registry
from m2pt_core.data.registry import split_indices
from m2pt_core.errors import InputFileError, M2PTError
from m2pt_core.modalities import AudioSpec, ImageSpec, PointCloudSpec, VideoSpec, default_spec

GENERATED = ["sounds", "shapes3d", "motion"]
SMALL = 48  # 4 per class for the 12-class generated sets


# ------------------------------------------------------------------------------------- datasets
def test_builtin_datasets_are_listed_with_modalities():
    names = list_datasets()
    for name, modality in [("mnist5k", "image"), ("digits", "image"), ("sounds", "audio"),
                           ("shapes3d", "pointcloud"), ("motion", "video")]:
        assert name in names and dataset_info(name).modality == modality
    assert list_datasets("audio") == ["sounds"]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_dataset_is_deterministic_for_a_seed(name):
    a = load_dataset(name, "all", seed=3, size=SMALL).X.clone()
    registry._items.cache_clear()  # force a real regeneration, not the cache
    b = load_dataset(name, "all", seed=3, size=SMALL).X
    c = load_dataset(name, "all", seed=4, size=SMALL).X
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", GENERATED + ["mnist5k", "digits"])
def test_dataset_shapes_dtypes_and_items_match_the_spec(name):
    size = SMALL if name in GENERATED else 60
    ds = load_dataset(name, "train", size=size)
    spec = default_spec(ds.modality)
    X, y = ds.tensors()
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert tuple(X.shape[1:]) == spec.input_shape
    assert torch.isfinite(X).all()
    assert len(ds.classes) >= 10 and int(y.max()) < len(ds.classes)
    x0, y0 = ds[0]
    assert torch.equal(x0, X[0]) and isinstance(y0, int)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_classes_are_balanced_and_splits_stratified(name):
    size = 12 * 10
    full = load_dataset(name, "all", size=size)
    assert set(full.class_counts().values()) == {10}
    parts = [split_indices(name, s, size=size) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == size
    assert len(np.unique(np.concatenate(parts))) == size  # disjoint and covering
    for s in ("train", "val", "test"):  # item-level splits: balanced to within one item per class
        counts = load_dataset(name, s, size=size).class_counts().values()
        assert max(counts) - min(counts) <= 1


def test_mnist5k_is_the_real_5000_digits_with_70_15_15_splits():
    sizes = {s: len(load_dataset("mnist5k", s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 3500, "val": 750, "test": 750}
    train = load_dataset("mnist5k", "train")
    assert set(train.class_counts().values()) == {350}
    # The stored tensor is exactly the preprocessed raw digit (same function as an upload).
    raw = raw_items("mnist5k", [train.indices[5]])[0]
    assert raw.shape == (28, 28) and raw.dtype == np.uint8 and raw.max() > 200
    assert torch.equal(train.X[5], preprocess_image(raw, ImageSpec()))


def test_digits_are_upscaled_from_8x8():
    ds = load_dataset("digits", "all")
    assert len(ds) == 1797 and tuple(ds.X.shape[1:]) == (1, 28, 28)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_items_equal_preprocessed_raw_items(name):
    ds = load_dataset(name, "test", size=SMALL)
    raw = raw_items(name, ds.indices[:3], size=SMALL)
    pre = {"sounds": lambda r: preprocess_audio(r, ds.spec.sample_rate, ds.spec),
           "shapes3d": lambda r: preprocess_points(r, ds.spec),
           "motion": lambda r: preprocess_video(r, ds.spec)}[name]
    for k, r in enumerate(raw):
        assert torch.equal(pre(r), ds.X[k])


def test_sound_waveforms_are_audible_and_not_clipped():
    waves = raw_items("sounds", range(24), size=SMALL)
    peaks = [float(np.abs(w).max()) for w in waves]
    assert all(0.01 < p < 1.0 for p in peaks)
    assert all(len(w) == 16000 for w in waves)


def test_custom_specs_change_the_generated_shapes():
    a = load_dataset("sounds", "train", spec=AudioSpec(n_mels=32, n_frames=48), size=36)
    v = load_dataset("motion", "train", spec=VideoSpec(num_frames=4, img_size=16, in_chans=3,
                                                       mean=(0.5,) * 3, std=(0.5,) * 3), size=36)
    p = load_dataset("shapes3d", "train", spec=PointCloudSpec(num_points=128), size=36)
    i = load_dataset("mnist5k", "val", spec=ImageSpec(img_size=32, in_chans=3, mean=(0.5,) * 3, std=(0.5,) * 3), size=100)
    assert tuple(a.X.shape[1:]) == (1, 32, 48)
    assert tuple(v.X.shape[1:]) == (3, 4, 16, 16)
    assert tuple(p.X.shape[1:]) == (128, 3)
    assert tuple(i.X.shape[1:]) == (3, 32, 32)


def test_dataset_errors_name_what_was_expected():
    with pytest.raises(M2PTError, match="expected one of.*mnist5k"):
        load_dataset("nope")
    with pytest.raises(M2PTError, match="split"):
        load_dataset("mnist5k", "training")
    with pytest.raises(M2PTError, match="audio spec"):
        load_dataset("sounds", spec=ImageSpec())
    with pytest.raises(M2PTError, match="too small"):
        load_dataset("sounds", size=5)


def test_register_a_user_dataset():
    def build(spec, seed, size):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(size or 30, *spec.input_shape, generator=g), torch.arange(size or 30) % 3

    register_dataset("tiny_user_set", "image", ["a", "b", "c"], build, overwrite=True)
    ds = load_dataset("tiny_user_set", "val", seed=1)
    assert len(ds) == 6 and ds.classes == ["a", "b", "c"] and ds.name == "tiny_user_set"
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("tiny_user_set", "image", ["a"], build)


def test_stratified_split_proportions():
    labels = np.repeat(np.arange(4), 20)
    tr, va, te = stratified_split(labels, (0.7, 0.15, 0.15), seed=0)
    assert (len(tr), len(va), len(te)) == (56, 12, 12)
    assert all(np.bincount(labels[p], minlength=4).tolist() == [len(p) // 4] * 4 for p in (tr, va, te))
    assert not np.array_equal(tr, stratified_split(labels, (0.7, 0.15, 0.15), seed=1)[0])


# ---------------------------------------------------------------------------------- preprocessing
def test_preprocess_image_converts_channels_resizes_and_normalises():
    grey = np.full((10, 20), 255, np.uint8)
    x = preprocess_image(grey, ImageSpec())
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and torch.allclose(x, torch.ones_like(x))
    rgb_spec = ImageSpec(in_chans=3, img_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert preprocess_image(grey, rgb_spec).shape == (3, 16, 16)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    y = preprocess_image(red, ImageSpec(img_size=8))
    assert torch.allclose(y, torch.full_like(y, (0.299 - 0.5) / 0.5), atol=1e-4)  # luma of pure red
    # PIL image and array give the same tensor; CHW arrays are accepted.
    assert torch.equal(preprocess_image(Image.fromarray(red), ImageSpec(img_size=8)), y)
    assert torch.equal(preprocess_image(np.moveaxis(red, -1, 0), ImageSpec(img_size=8)), y)


def test_preprocess_image_rejects_nan_and_bad_shapes():
    bad = np.zeros((8, 8), np.float32)
    bad[2, 2] = np.nan
    with pytest.raises(InputFileError, match="non-finite.*expected finite"):
        preprocess_image(bad, ImageSpec())
    with pytest.raises(InputFileError, match="expected"):
        preprocess_image(np.zeros((2, 3, 4, 5)), ImageSpec())


def _tone(freq: float, sr: int = 16000, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(sr * seconds)) / sr)).astype(np.float32)


def test_preprocess_audio_shape_and_frequency_axis():
    spec = AudioSpec()
    low, high = preprocess_audio(_tone(300)[None], 16000, spec), preprocess_audio(_tone(4000)[None], 16000, spec)
    assert low.shape == (1, spec.n_mels, spec.n_frames) and low.dtype == torch.float32
    # Mel bins are on dim 1: the loudest bin of a high tone is above that of a low tone.
    assert int(high[0].mean(1).argmax()) > int(low[0].mean(1).argmax()) + 10


def test_preprocess_audio_mono_resample_and_pad():
    spec = AudioSpec()
    mono = preprocess_audio(_tone(500), 16000, spec)
    stereo = preprocess_audio(np.stack([_tone(500), _tone(500)]), 16000, spec)
    assert torch.allclose(mono, stereo)
    resampled = preprocess_audio(_tone(500, sr=8000), 8000, spec)
    assert resampled.shape == mono.shape and (resampled - mono).abs().mean() < 0.1
    short = preprocess_audio(_tone(500, seconds=0.3), 16000, spec)
    assert short.shape == mono.shape and torch.isfinite(short).all()


@pytest.mark.parametrize("wave, sr, message", [
    (np.zeros(16000, np.float32), 16000, "silent"),
    (np.full(16000, 0.3, np.float32), 16000, "silent"),
    (np.zeros(0, np.float32), 16000, "zero-length"),
    (np.array([0.1, np.nan] * 100, np.float32), 16000, "non-finite"),
    (_tone(500), 10, "sample rate"),
])
def test_preprocess_audio_rejects_meaningless_audio(wave, sr, message):
    with pytest.raises(InputFileError, match=message) as e:
        preprocess_audio(wave, sr, AudioSpec())
    assert "expected" in str(e.value)


def test_preprocess_points_centres_scales_and_resamples():
    rng = np.random.default_rng(0)
    pts = rng.normal(5.0, 3.0, (1000, 6))                     # extra columns (normals) are ignored
    x = preprocess_points(pts, PointCloudSpec(num_points=256))
    assert x.shape == (256, 3) and x.dtype == torch.float32
    assert x.mean(0).abs().max() < 1e-5 and abs(float(x.norm(dim=1).max()) - 1) < 1e-5
    assert torch.equal(x, preprocess_points(pts, PointCloudSpec(num_points=256)))   # deterministic
    few = preprocess_points(pts[:20], PointCloudSpec(num_points=64))                # repeated up to P
    assert few.shape == (64, 3) and len(torch.unique(few, dim=0)) == 20


@pytest.mark.parametrize("pts, message", [
    (np.random.default_rng(0).random((5, 3)), "5 point.*at least 8"),
    (np.vstack([np.random.default_rng(0).random((20, 3)), [[np.inf, 0, 0]]]), "non-finite"),
    (np.ones((50, 3)), "coincide"),
    (np.zeros((50, 2)), r"expected a numeric \(N, 3\)"),
])
def test_preprocess_points_rejects_bad_clouds(pts, message):
    with pytest.raises(InputFileError, match=message):
        preprocess_points(pts, PointCloudSpec())


def test_preprocess_video_samples_frames_uniformly():
    frames = np.stack([np.full((40, 50, 3), 10 * t, np.uint8) for t in range(16)])  # frame t has value 10t
    x = preprocess_video(frames, VideoSpec(num_frames=4, img_size=20))
    assert x.shape == (1, 4, 20, 20) and x.dtype == torch.float32
    values = ((x[0, :, 0, 0] * 0.5 + 0.5) * 255).round().tolist()
    assert values == [0, 50, 100, 150]                       # frames 0, 5, 10, 15
    assert preprocess_video(frames[:2], VideoSpec()).shape == (1, 8, 32, 32)  # short clips repeat frames


def test_preprocess_video_rejects_single_frames_and_huge_frames():
    with pytest.raises(InputFileError, match="1 frame.*at least 2"):
        preprocess_video(np.zeros((1, 8, 8), np.uint8), VideoSpec())
    with pytest.raises(InputFileError, match="4097x2.*4096"):
        preprocess_video(np.zeros((2, 2, 4097), np.uint8), VideoSpec())
