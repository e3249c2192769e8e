"""Write a built-in dataset out as a user would have it: a class-per-folder tree of real files
(PNG, 8 kHz WAV, PLY, MP4...), a CSV manifest, or an archive. Used by the notebooks, the tests
and benchmarks/data_throughput.py to exercise ``open_dataset`` on files, bad ones included."""
from __future__ import annotations

import csv
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..modalities import default_spec
from .registry import dataset_info, raw_items
from .writers import write_audio, write_gif, write_image, write_ply, write_video

DEFAULT_EXT = {"image": ".png", "audio": ".wav", "pointcloud": ".ply", "video": ".mp4"}
BAD_KINDS = ("empty", "truncated", "mislabelled")


def _write(modality: str, path: Path, raw: np.ndarray, sample_rate: int) -> None:
    ext = path.suffix.lower()
    if modality == "image":
        write_image(path, raw)
    elif modality == "audio":
        write_audio(path, raw, sample_rate)
    elif modality == "pointcloud":
        write_ply(path, raw)
    elif ext == ".gif":
        write_gif(path, raw)
    else:
        write_video(path, raw)


def _bad_file(path: Path, kind: str, like: Optional[Path]) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated" and like is not None:
        data = like.read_bytes()
        path.write_bytes(data[: max(16, len(data) // 5)])
    else:   # text content behind a media extension
        path.write_text("this is not a media file\n")


def write_folder(dataset: str, root: str | os.PathLike, n: int, seed: int = 0, ext: Optional[str] = None,
                 bad: int = 0, sample_rate: Optional[int] = None, start: int = 0) -> list[Path]:
    """Write items ``start .. start+n-1`` of a built-in dataset as ``root/<class>/<id>.<ext>`` and
    ``bad`` corrupt files (empty, truncated, mislabelled in turn). Returns the good files.
    ``sample_rate`` (audio): the WAV's rate (e.g. 8000); the loader resamples to the spec's."""
    info = dataset_info(dataset)
    ext = ext or DEFAULT_EXT[info.modality]
    spec = default_spec(info.modality)
    if info.modality == "audio" and sample_rate:
        spec = default_spec("audio", sample_rate=int(sample_rate))
    root = Path(root)
    if info.generated:
        ids = list(range(start, start + n))
        labels = np.asarray(info.labels_of(np.asarray(ids)))
    else:   # a real set may be sorted by class: interleave the classes (rank within class, class)
        all_labels = np.asarray(info.labels_of(None))
        rank = np.empty(len(all_labels), np.int64)
        for c in np.unique(all_labels):
            members = np.flatnonzero(all_labels == c)
            rank[members] = np.arange(len(members))
        ids = [int(i) for i in np.lexsort((all_labels, rank))[start:start + n]]
        labels = all_labels[ids]
    written: list[Path] = []
    for lo in range(0, n, 256):          # chunks: the raw items of a chunk are in memory at once
        chunk = ids[lo:lo + 256]
        raws = raw_items(dataset, chunk, spec, seed)
        for j, (i, raw) in enumerate(zip(chunk, raws)):
            label = int(labels[lo + j])
            folder = root / info.classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{i:06d}{ext}"   # the item id: names never collide across calls
            _write(info.modality, path, raw, getattr(spec, "sample_rate", 0))
            written.append(path)
    for b in range(bad):
        cls = info.classes[b % len(info.classes)]
        (root / cls).mkdir(parents=True, exist_ok=True)
        _bad_file(root / cls / f"bad{b:03d}{ext}", BAD_KINDS[b % len(BAD_KINDS)], written[b % len(written)] if written else None)
    return written


def write_manifest(folder: str | os.PathLike, csv_path: Optional[str | os.PathLike] = None) -> Path:
    """A ``path,label`` CSV for a class-per-folder tree (paths relative to the CSV)."""
    folder = Path(folder)
    csv_path = Path(csv_path) if csv_path is not None else folder / "labels.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for cls in sorted(d for d in folder.iterdir() if d.is_dir()):
            for p in sorted(cls.rglob("*")):
                if p.is_file():
                    w.writerow([os.path.relpath(p, csv_path.parent).replace(os.sep, "/"), cls.name])
    return csv_path


def write_archive(folder: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Pack ``folder`` (its files under a top-level folder of its name) as .zip or .tar.gz."""
    folder, path = Path(folder), Path(path)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, (Path(folder.name) / p.relative_to(folder)).as_posix())
    else:
        with tarfile.open(path, "w:gz") as t:
            for p in files:
                t.add(p, (Path(folder.name) / p.relative_to(folder)).as_posix())
    return path
