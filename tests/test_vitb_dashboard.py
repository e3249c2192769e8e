"""The dashboard in headless Chromium with a ViT-B-shaped pair (width 768, 12 heads, patch 16,
224 px, 197 tokens; 2 blocks, so it stays short): timm files opened from a --models-dir, a folder of
images from --data-dir, a λ move on the slider's named subset, the whole validation split on
request, a knockout with its time left and a Stop, and the λ sweeps. The same steps drive a
12-block ViT-B/16 pair in benchmarks/vitb_dashboard.py (numbers in docs/results.md)."""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")]


def _bench():
    spec = importlib.util.spec_from_file_location("vitb_dashboard", ROOT / "benchmarks" / "vitb_dashboard.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vitb_dashboard"] = mod
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vitb_shaped_pair_opens_moves_knocks_out_with_stop_and_sweeps(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from app.main import build_app, launch
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    bench = _bench()
    target, aux, data = bench.prepare(tmp_path, depth=2, images=100)
    catalog = Catalog(cached_tiny_zoo(), exposed_dirs=[target.parent, data])
    demo = build_app(catalog, max_eval=6, data_dir=data)     # a subset of the validation split
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=bench.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            out = bench.drive(page, f"http://127.0.0.1:{port}/", target, aux, shots=SHOTS, stop_knockout=True,
                              every_layer=True, depth=2,
                              timeout_s=120, log=lambda line: None)
            browser.close()
    finally:
        demo.close()
    assert not errors, errors
    # 197 tokens: the ViT-B input was kept (224 px, patch 16), not shrunk to a built-in dataset's
    specs = [key[2] for key in catalog.cache._entries if key and key[0] == "eval-data" and "digits224" in key[1]]
    assert specs and all('"img_size": 224' in s and '"patch_size": 16' in s and '"in_chans": 3' in s for s in specs)
    n, total = map(int, re.search(r"subset of (\d+) of the (\d+) validation items of digits224", out["slider_items"]).groups())
    assert n < total
    assert out["whole_split"].startswith(f"all {total} validation items of digits224")
    assert re.search(r"Knockout map \(\d+ items\): \d+% · \d+ s elapsed · about \d+ s left",
                     out["knockout_progress"]), out["knockout_progress"]
    assert re.fullmatch(r"re-ran 2 of 2 blocks in \d+ ms", out["lambda_move_server"])     # λ of layer 0 moved
    assert out["layer_moves"][1][1].startswith("re-ran 1 of 2 blocks")                   # only block 1 re-ran
    assert "stopped after" in out["knockout_stopped"] and out["knockout_stop_latency_s"] < 15
    assert "λ sweep" in out["sweep_done"] and "done in" in out["sweep_done"]
    print(out)
