"""Example files per modality, drawn from the built-in test splits (``assets/samples/``).

``python -m m2pt_core.data.samples [--out DIR] [--per-modality N]`` writes e.g.
``image_digit7.png``, ``audio_rising_chirp.wav``, ``pointcloud_torus.ply``, ``video_right.gif``
and an ``index.json`` (file, modality, dataset, label, ...). Each file is read back with
``load_file`` and compared with the dataset tensor, so the samples are proven to be treated
exactly like training data (up to the file format's encoding loss, recorded as max_abs_diff).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from .load import load_file
from .registry import load_dataset, raw_items
from .writers import write_audio, write_gif, write_image, write_ply

# (dataset, modality, file prefix, extension, preferred classes in order)
PLAN = (
    ("mnist5k", "image", "image_digit", ".png", ("7", "3", "0", "5", "2", "9", "1", "4", "6", "8")),
    ("sounds", "audio", "audio_", ".wav", ("rising_chirp", "click_train", "am_tone", "beeps")),
    ("shapes3d", "pointcloud", "pointcloud_", ".ply", ("torus", "cube", "helix", "cone")),
    ("motion", "video", "video_", ".gif", ("right", "rotate_cw", "zoom_in", "down_left")),
)
# Largest acceptable difference between a sample file read back and its dataset tensor.
TOLERANCE = {"image": 1e-6, "audio": 0.1, "pointcloud": 1e-5, "video": 0.01}


def _write(modality: str, path: Path, raw: np.ndarray, spec) -> None:
    if modality == "image":
        write_image(path, raw)
    elif modality == "audio":
        write_audio(path, raw, spec.sample_rate)
    elif modality == "pointcloud":
        write_ply(path, raw)
    else:
        write_gif(path, raw)


def write_samples(out_dir: str | os.PathLike = "assets/samples", per_modality: int = 2, seed: int = 0) -> list[dict]:
    """Write ``per_modality`` files per modality (distinct classes) and ``index.json``; return the index.

    Raises ``AssertionError`` if a written file does not load back to its dataset tensor within
    the format's tolerance.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for name, modality, prefix, ext, preferred in PLAN:
        ds = load_dataset(name, "test", seed=seed)
        order = [c for c in preferred if c in ds.classes] + [c for c in ds.classes if c not in preferred]
        for label in order[:per_modality]:
            k = ds.classes.index(label)
            j = int((ds.y == k).nonzero()[0, 0])                         # first test item of the class
            whole = int(ds.indices[j])
            raw = raw_items(name, [whole], ds.spec, seed)[0]
            path = out / f"{prefix}{label}{ext}"
            _write(modality, path, raw, ds.spec)
            back = load_file(path, spec=ds.spec)
            diff = float((back - ds.X[j]).abs().max())
            assert back.shape == ds.X[j].shape and diff <= TOLERANCE[modality], (path, tuple(back.shape), diff)
            index.append({
                "file": path.name, "modality": modality, "dataset": name, "label": label, "class_index": k,
                "split": "test", "seed": seed, "item": whole, "input_shape": list(back.shape),
                "max_abs_diff": round(diff, 6), "bytes": path.stat().st_size,
            })
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write example files per modality from the built-in datasets.")
    ap.add_argument("--out", default="assets/samples", help="output folder (default: assets/samples)")
    ap.add_argument("--per-modality", type=int, default=2, help="files per modality (default: 2)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    index = write_samples(args.out, args.per_modality, args.seed)
    for e in index:
        print(f"{e['file']:32s} {e['modality']:10s} {e['dataset']:9s} {e['label']:14s} "
              f"{e['bytes']:7d} bytes  max|diff|={e['max_abs_diff']:g}")
    print(f"{len(index)} files, {sum(e['bytes'] for e in index)} bytes in {args.out}")


if __name__ == "__main__":
    main()
