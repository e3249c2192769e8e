"""benchmarks/scale.py on a shallow ViT-B-shaped pair (the real ViT-B run is the benchmark itself):
its worker and its accelerator part (written for CUDA, driven here on CPU) produce every number."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


def _scale():
    spec = importlib.util.spec_from_file_location("scale_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scale_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_worker_and_accelerator_part_on_a_small_pair(tmp_path):
    scale = _scale()
    target, aux = scale.write_weights(tmp_path, img_size=32, depth=2, embed_dim=64, num_heads=2)
    for variant in scale.VARIANTS:
        r = scale.worker(variant, target, aux, batch=2, steps=1)
        assert r["peak_mb"] > 0 and r["step_s"] > 0 and r["load_peak_mb"] >= 0
        if variant != "baseline":
            assert r["aux_mb"] == 2 * (64 * 192 + 64 * 64 + 2 * 64 * 256) * 4 / 2 ** 20
    rows = scale.accelerator_part(target, aux, torch.device("cpu"), batch=2, steps=1, compile_modes=(False,))
    assert [r["variant"] for r in rows] == ["baseline", "trainable", "frozen", "frozen_bf16"]
    assert all(r["train_img_s"] > 0 for r in rows)
    assert rows[0]["infer_img_s"] > 0 and rows[1]["merged_infer_img_s"] > 0
