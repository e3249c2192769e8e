"""File loading for every format, every bad-input case, folder/manifest datasets, sample files."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from m2pt_core.data import FolderDataset, ManifestDataset, detect_modality, load_dataset, load_file
from m2pt_core.data.pointfiles import read_off
from m2pt_core.data.preprocess import preprocess_image, preprocess_points, preprocess_video
from m2pt_core.data.writers import write_audio, write_gif, write_image, write_ply, write_video
from m2pt_core.errors import InputFileError
from m2pt_core.modalities import ImageSpec, PointCloudSpec, VideoSpec, default_spec

RNG = np.random.default_rng(0)
IMG = (RNG.random((20, 30, 3)) * 255).astype(np.uint8)
PTS = RNG.standard_normal((300, 6))
SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"


def _tone(sr: int = 16000, seconds: float = 1.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(int(sr * seconds)) / sr)


def _clip(t: int = 6) -> np.ndarray:
    """(T, 24, 24) uint8 frames of a moving bright square (consecutive frames differ)."""
    frames = np.zeros((t, 24, 24), np.uint8)
    for k in range(t):
        frames[k, 8:14, 2 + 3 * k: 8 + 3 * k] = 255
    return frames


# ------------------------------------------------------------------------------ every good format
@pytest.mark.parametrize("ext", ["png", "jpg", "bmp", "webp", "gif", "tiff"])
def test_image_formats_load_to_the_image_spec(tmp_path, ext):
    path = write_image(tmp_path / f"a.{ext}", IMG)
    x = load_file(path)
    assert detect_modality(path) == "image" and x.shape == (1, 28, 28) and x.dtype == torch.float32
    if ext in ("png", "bmp", "tiff"):  # lossless: identical to preprocessing the array
        assert torch.equal(x, preprocess_image(IMG, ImageSpec()))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_audio_formats_load_to_the_audio_spec(tmp_path, ext):
    path = write_audio(tmp_path / f"a.{ext}", np.stack([_tone(22050), _tone(22050)]), 22050)
    x = load_file(path)
    assert detect_modality(path) == "audio" and x.shape == (1, 64, 96) and torch.isfinite(x).all()


def test_point_formats_load_to_the_same_cloud(tmp_path):
    write_ply(tmp_path / "bin.ply", PTS)
    write_ply(tmp_path / "asc.ply", PTS, binary=False)
    np.savetxt(tmp_path / "model.txt", PTS, delimiter=",", fmt="%.7f")       # ModelNet x,y,z,nx,ny,nz
    np.savetxt(tmp_path / "pts.xyz", PTS[:, :3], fmt="%.7f")
    (tmp_path / "pts.csv").write_text("x,y,z\n" + "\n".join(",".join(f"{v:.7f}" for v in r) for r in PTS[:, :3]))
    np.save(tmp_path / "a.npy", PTS)
    np.savez(tmp_path / "a.npz", normals=PTS[:, 3:], points=PTS[:, :3])
    ref = preprocess_points(PTS, PointCloudSpec())
    for name in ["bin.ply", "asc.ply", "model.txt", "pts.xyz", "pts.csv", "a.npy", "a.npz"]:
        x = load_file(tmp_path / name)
        assert detect_modality(tmp_path / name) == "pointcloud"
        assert x.shape == (512, 3) and (x - ref).abs().max() < 1e-5, name


def test_ply_big_endian_and_other_elements(tmp_path):
    pts = PTS[:10, :3].astype(">f4")
    header = ("ply\nformat binary_big_endian 1.0\nelement camera 1\nproperty list uchar int ids\n"
              "element vertex 10\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\n"
              "element face 1\nproperty list uchar int vertex_indices\nend_header\n").encode()
    body = b"\x02" + np.array([7, 9], ">i4").tobytes()                       # the camera's list
    rec = np.zeros(10, dtype=[("x", ">f4"), ("y", ">f4"), ("z", ">f4"), ("red", "u1")])
    rec["x"], rec["y"], rec["z"] = pts.T
    (tmp_path / "be.ply").write_bytes(header + body + rec.tobytes() + b"\x03" + np.arange(3, dtype=">i4").tobytes())
    x = load_file(tmp_path / "be.ply", spec=PointCloudSpec(num_points=10))
    assert torch.allclose(x, preprocess_points(pts.astype(np.float64), PointCloudSpec(num_points=10)), atol=1e-6)


CUBE_OFF = ("OFF\n8 6 0\n" + "".join(f"{x} {y} {z}\n" for x in (-1, 1) for y in (-1, 1) for z in (-1, 1))
            + "4 0 1 3 2\n4 4 6 7 5\n4 0 4 5 1\n4 2 3 7 6\n4 0 2 6 4\n4 1 5 7 3\n")


def test_off_mesh_is_sampled_on_its_surface_by_area(tmp_path):
    (tmp_path / "cube.off").write_text(CUBE_OFF)
    pts = read_off(tmp_path / "cube.off", 2000)
    assert pts.shape == (2000, 3) and np.allclose(np.abs(pts).max(axis=1), 1.0)   # on the faces
    assert np.allclose(np.bincount(np.abs(pts).argmax(1), minlength=3) / 2000, 1 / 3, atol=0.05)
    # A big and a tiny triangle: points land in proportion to area.
    (tmp_path / "two.off").write_text("OFF\n6 2 0\n0 0 0\n10 0 0\n0 10 0\n0 0 5\n0.1 0 5\n0 0.1 5\n3 0 1 2\n3 3 4 5\n")
    two = read_off(tmp_path / "two.off", 1000)
    assert (two[:, 2] > 1).sum() < 5
    # ModelNet's glued header, and a mesh without faces (its vertices are used).
    (tmp_path / "glued.off").write_text(CUBE_OFF.replace("OFF\n8 6 0", "OFF8 6 0"))
    assert load_file(tmp_path / "glued.off").shape == (512, 3)
    (tmp_path / "verts.off").write_text("OFF\n8 0 0\n" + "".join(CUBE_OFF.splitlines(True)[2:10]))
    assert read_off(tmp_path / "verts.off", 100).shape == (8, 3)


@pytest.mark.parametrize("ext", ["gif", "mp4", "webm", "avi"])
def test_video_formats_load_to_the_video_spec(tmp_path, ext):
    frames = _clip()
    path = write_gif(tmp_path / "v.gif", frames) if ext == "gif" else write_video(tmp_path / f"v.{ext}", frames)
    x = load_file(path)
    assert detect_modality(path) == "video" and x.shape == (1, 8, 32, 32) and x.dtype == torch.float32
    ref = preprocess_video(frames, VideoSpec())
    assert (x - ref).abs().mean() < (0.01 if ext == "gif" else 0.15)


def test_single_frame_gif_is_an_image_and_animated_gif_a_video(tmp_path):
    still = write_image(tmp_path / "still.gif", IMG[..., 0])
    anim = write_gif(tmp_path / "anim.gif", _clip())
    assert detect_modality(still) == "image" and detect_modality(anim) == "video"
    assert load_file(anim, modality="image").shape == (1, 28, 28)              # first frame, on request
    with pytest.raises(InputFileError, match="1 frame.*expected at least 2"):
        load_file(still, modality="video")


# -------------------------------------------------------------------------------------- bad input
def _raise(path, **kw) -> str:
    with pytest.raises(InputFileError) as e:
        load_file(path, **kw)
    msg = str(e.value)
    assert "expected" in msg.lower(), msg
    assert Path(path).name in msg, msg
    return msg


@pytest.mark.parametrize("name", ["a.png", "a.wav", "a.ply", "a.mp4", "a.npy", "a.txt"])
def test_empty_files_are_rejected(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert "empty" in _raise(tmp_path / name)


def test_truncated_files_are_rejected(tmp_path):
    cases = {}
    write_image(tmp_path / "full.png", IMG)
    cases["cut.png"] = (tmp_path / "full.png").read_bytes()
    write_audio(tmp_path / "full.wav", _tone(), 16000)
    cases["cut.wav"] = (tmp_path / "full.wav").read_bytes()
    write_ply(tmp_path / "full.ply", PTS)
    cases["cut.ply"] = (tmp_path / "full.ply").read_bytes()
    write_video(tmp_path / "full.mp4", _clip(12))
    cases["cut.mp4"] = (tmp_path / "full.mp4").read_bytes()
    np.save(tmp_path / "full.npy", PTS)
    cases["cut.npy"] = (tmp_path / "full.npy").read_bytes()
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        msg = _raise(tmp_path / name)
        assert any(w in msg for w in ("truncated", "cannot decode", "corrupt")), msg


def test_lying_and_unknown_extensions_are_rejected(tmp_path):
    (tmp_path / "text.png").write_text("hello, I am not an image\n")
    msg = _raise(tmp_path / "text.png")
    assert "PNG image" in msg and "plain text" in msg
    write_audio(tmp_path / "sound.wav", _tone(), 16000)
    (tmp_path / "sound.jpg").write_bytes((tmp_path / "sound.wav").read_bytes())
    assert "WAV audio" in _raise(tmp_path / "sound.jpg")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    assert "unknown file type" in _raise(tmp_path / "blob.bin")
    assert "expected an image file, but the content is WAV audio" in _raise(tmp_path / "sound.wav", modality="image")
    # Unknown extension but recognisable content: read by content.
    (tmp_path / "upload.tmp").write_bytes((tmp_path / "sound.wav").read_bytes())
    assert load_file(tmp_path / "upload.tmp").shape == (1, 64, 96)


def test_nan_values_are_rejected(tmp_path):
    bad = PTS.copy()
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "non-finite" in _raise(tmp_path / "nan.npy")
    (tmp_path / "nan.xyz").write_text("0 0 0\n" * 10 + "nan 1 2\n")
    assert "non-finite" in _raise(tmp_path / "nan.xyz")
    wave = _tone().astype(np.float32)
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 16000, subtype="FLOAT")
    assert "non-finite" in _raise(tmp_path / "nan.wav")


def test_pickled_numpy_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert "unpickling" in _raise(tmp_path / "obj.npy")


def test_too_few_points_and_ragged_text_are_rejected(tmp_path):
    (tmp_path / "few.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n1 1 1\n")
    assert "at least 8" in _raise(tmp_path / "few.xyz")
    (tmp_path / "ragged.txt").write_text("0 0 0\n1 0\n0 1 0\n")
    assert "same number" in _raise(tmp_path / "ragged.txt")


def test_silent_and_zero_length_audio_are_rejected(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    assert "silent" in _raise(tmp_path / "silent.wav")
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    assert "zero-length" in _raise(tmp_path / "zero.wav")


def test_size_limit(tmp_path):
    path = write_image(tmp_path / "a.png", IMG)
    assert "size limit" in _raise(path, max_bytes=100)
    assert load_file(path, max_bytes=10_000).shape == (1, 28, 28)


def test_absurd_dimensions_are_rejected(tmp_path):
    Image.new("L", (10_001, 1)).save(tmp_path / "wide.png")
    assert "10001x1" in _raise(tmp_path / "wide.png")
    frames = np.zeros((2, 4, 4100), np.uint8)
    frames[1] = 255
    write_gif(tmp_path / "wide.gif", frames)
    assert "4100x4" in _raise(tmp_path / "wide.gif", modality="video")


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_file(tmp_path / "nope.png")


# -------------------------------------------------------------------------------- folder datasets
def _image_tree(root: Path) -> None:
    for k, cls in enumerate(["cat", "dog"]):
        (root / cls).mkdir(parents=True)
        for j in range(3):
            write_image(root / cls / f"{j}.png", np.full((12, 12), 40 * k + 10 * j, np.uint8))
    (root / "cat" / "broken.png").write_text("not an image")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    (root / "dog" / ".hidden.png").write_text("ignored")


def test_folder_dataset_skips_and_reports_bad_files(tmp_path, caplog):
    _image_tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = FolderDataset(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.modality == "image" and len(ds) == 6
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1] and ds.X.shape == (6, 1, 28, 28)
    skipped = {Path(p).name: reason for p, reason in ds.skipped}
    assert set(skipped) == {"broken.png", "empty.jpg"}
    assert "plain text" in skipped["broken.png"] and "empty" in skipped["empty.jpg"]
    assert "skipped 2 of 8" in caplog.text
    assert torch.equal(ds.X[0], load_file(tmp_path / "cat" / "0.png"))


def test_folder_dataset_for_points_and_audio(tmp_path):
    for k, cls in enumerate(["a", "b"]):
        (tmp_path / "pc" / cls).mkdir(parents=True)
        np.save(tmp_path / "pc" / cls / "x.npy", PTS * (k + 1))
        (tmp_path / "pc" / cls / "bad.xyz").write_text("1 2 3\n")
        (tmp_path / "au" / cls).mkdir(parents=True)
        write_audio(tmp_path / "au" / cls / "x.flac", _tone(), 16000)
    pc = FolderDataset(tmp_path / "pc")
    assert pc.modality == "pointcloud" and len(pc) == 2 and len(pc.skipped) == 2
    au = FolderDataset(tmp_path / "au", spec=default_spec("audio", n_mels=32))
    assert au.X.shape == (2, 1, 32, 96)


def test_folder_dataset_with_only_bad_files_raises(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_text("text")
    with pytest.raises(InputFileError, match="no file could be read"):
        FolderDataset(tmp_path)


def test_manifest_dataset(tmp_path, caplog):
    _image_tree(tmp_path / "imgs")
    rows = ["path,label", "imgs/cat/0.png,cat", "imgs/dog/1.png,dog", f"{tmp_path / 'imgs/cat/1.png'},cat",
            "imgs/cat/broken.png,cat", "missing.png,dog", "imgs/dog/2.png,bird", ",cat"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        ds = ManifestDataset(tmp_path / "m.csv", classes=["cat", "dog"])
    assert len(ds) == 3 and ds.y.tolist() == [0, 1, 0]
    reasons = " | ".join(r for _, r in ds.skipped)
    assert len(ds.skipped) == 4 and "not found" in reasons and "bird" in reasons and "empty path" in reasons
    (tmp_path / "bad.csv").write_text("file,class\nx.png,a\n")
    with pytest.raises(InputFileError, match="expected a header with 'path' and 'label'"):
        ManifestDataset(tmp_path / "bad.csv")


# ----------------------------------------------------------------------------------- sample files
def test_committed_samples_load_to_their_modality():
    index = json.loads((SAMPLES / "index.json").read_text())
    assert {e["modality"] for e in index} == {"image", "audio", "pointcloud", "video"}
    assert sum((SAMPLES / e["file"]).stat().st_size for e in index) < 2 * 1024 * 1024
    for e in index:
        x = load_file(SAMPLES / e["file"])
        assert detect_modality(SAMPLES / e["file"]) == e["modality"]
        assert list(x.shape) == e["input_shape"] == list(default_spec(e["modality"]).input_shape)
        assert e["label"] in load_dataset(e["dataset"], "test", size=None if e["dataset"] == "mnist5k" else 36).classes
    digit = next(e for e in index if e["dataset"] == "mnist5k")
    test = load_dataset("mnist5k", "test")
    j = int(np.flatnonzero(test.indices == digit["item"])[0])
    assert torch.equal(load_file(SAMPLES / digit["file"]), test.X[j])
