"""The dashboard in headless Debian Chromium (Playwright): every tab, a sample upload, screenshots
in test-artifacts/screenshots/ (never downloads a browser: uses /usr/bin/chromium)."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url():
    from app.main import build_app, launch
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    zoo = os.environ.get("M2PT_BROWSER_ZOO")            # set to assets/zoo for the real screenshots
    demo = build_app(Catalog(zoo or cached_tiny_zoo()))
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_click_through_every_panel(url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image
    from m2pt_core.data.images import digits_arrays
    images, _ = digits_arrays()
    digit = tmp_path / "digit.png"
    Image.fromarray((images[3] * 255).astype(np.uint8)).resize((28, 28)).save(digit)
    SHOTS.mkdir(parents=True, exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        # The page opens on the default zoo pair: wait for its score.
        page.get_by_text("Opened", exact=False).first.wait_for(timeout=90_000)
        page.screenshot(path=str(SHOTS / "1-models.png"), full_page=True)

        page.get_by_role("tab", name="Pathways").click()
        page.get_by_text("Validation accuracy now", exact=False).first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Compute knockout map").click()
        page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
        page.get_by_role("button", name="Compute λ sweeps").click()
        page.locator(".js-plotly-plot").nth(2).wait_for(timeout=90_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "2-pathways.png"), full_page=True)

        page.get_by_role("tab", name="Weights").click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "3-weights.png"), full_page=True)

        page.get_by_role("tab", name="Try a sample").click()
        page.locator("#sample-upload input[type=file]").set_input_files(str(digit))
        page.get_by_text("Detected image", exact=False).first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "4-sample.png"), full_page=True)

        page.get_by_role("tab", name="Train").click()
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "5-train.png"), full_page=True)

        page.get_by_role("tab", name="Ablation").click()
        page.get_by_text("t-interval", exact=False).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "5b-ablation.png"), full_page=True)

        page.get_by_role("tab", name="Export").click()
        page.get_by_role("button", name="Merge and export").click()
        page.get_by_text("Verified: merged", exact=False).first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "6-export.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert len(list(SHOTS.glob("*.png"))) >= 6
