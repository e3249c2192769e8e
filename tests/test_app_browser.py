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
        page.get_by_text("the merged model gives the same outputs", exact=False).first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "6-export.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert len(list(SHOTS.glob("*.png"))) >= 6


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TOASTS = "[data-testid='toast-close']"


def _sessions_lambda(key_prefix: str = "blocks.0.", since: int = 0) -> set[float]:
    """λ of layer 0 in every live explorer session of this (in-process) server made after session
    id ``since`` (sessions of other test files in the same process are not this page's)."""
    import gc
    from m2pt_core.explorer import ExplorerSession
    from m2pt_core.pathways import get_lambdas
    out = set()
    for o in gc.get_objects():
        if (isinstance(o, ExplorerSession) and o.uid > since and o.model is not None and o.pathway_names()
                and o.lambdas_edited()):
            out |= {round(v, 5) for n, v in get_lambdas(o.model).items() if n.startswith(key_prefix)}
    return out


def _wait(page, predicate, timeout_s: float = 30.0) -> bool:
    import time
    end = time.time() + timeout_s
    while time.time() < end:
        if predicate():
            return True
        page.wait_for_timeout(250)
    return predicate()


def _open_page(p, url):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.get_by_text("Opened", exact=False).first.wait_for(timeout=90_000)
    return browser, page


def test_keyboard_number_box_and_clamped_values_rescore_and_close_toasts(url):
    """Arrow keys and the number box re-score like a mouse release, so the λ in the session is
    always the one on the page; a typed value beyond the slider is refused (a toast), clamped on
    blur and re-scored, and the toast does not outlive the change."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from m2pt_core.explorer.session import _SESSION_IDS
    first = next(_SESSION_IDS)                 # sessions made from now on are this page's
    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url)
        page.get_by_role("tab", name="Pathways").click()
        score = page.locator("#lambda-score")
        score.get_by_text("Validation accuracy now", exact=False).wait_for(timeout=30_000)
        number = page.locator("#lambda-slider input[type=number]")
        rng = page.locator("#lambda-slider input[type=range]")
        page.wait_for_timeout(1000)
        assert len(number.input_value().split(".")[-1]) <= 4, number.input_value()   # not 16 digits

        rng.focus()
        for _ in range(6):
            rng.press("ArrowRight")
        shown = round(float(number.input_value()), 5)
        assert _wait(page, lambda: _sessions_lambda(since=first) == {shown}), (shown, _sessions_lambda(since=first))

        number.fill("0.0123")
        assert _wait(page, lambda: _sessions_lambda(since=first) == {0.0123}), _sessions_lambda(since=first)

        top = float(rng.get_attribute("max"))
        number.fill(str(round(top * 3, 3)))                    # beyond the slider: refused...
        page.locator(".toast-body, [data-testid='toast-body']").first.wait_for(timeout=20_000)
        number.press("Tab")                                    # ...clamped on blur, and re-scored
        assert _wait(page, lambda: _sessions_lambda(since=first) == {round(top, 5)}), (top, _sessions_lambda(since=first))
        assert _wait(page, lambda: page.locator(TOASTS).count() == 0, 15), "a stale toast stayed on screen"
        page.screenshot(path=str(SHOTS / "7-keyboard-lambda.png"), full_page=True)
        browser.close()


def test_refused_pair_keeps_the_open_model_everywhere(url):
    from m2pt_core.pathways import MINILM_NAME, minilm_l6_path
    sync_api = pytest.importorskip("playwright.sync_api")
    try:
        minilm_l6_path()
        bad = MINILM_NAME                                      # 384 wide: no test-size target pairs with it
    except Exception:  # noqa: BLE001 - no MiniLM wheel: a path the server refuses to read
        bad = "/etc/passwd"
    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url)
        target = page.locator("#target-dropdown input").input_value()
        aux = page.locator("#aux-dropdown input").input_value()
        box = page.locator("#aux-dropdown input")
        box.click()
        box.fill(bad)
        box.press("Enter")
        page.get_by_role("button", name="Open", exact=True).click()
        page.locator("#models-status").get_by_text("cannot be paired", exact=False).wait_for(timeout=60_000)
        page.locator(TOASTS).first.wait_for(timeout=10_000)
        status = page.locator("#models-status").inner_text()
        assert "still open" in status and target in status
        assert _wait(page, lambda: page.locator("#aux-dropdown input").input_value() == aux)
        assert page.locator("#target-dropdown input").input_value() == target
        assert target in page.locator("#target-card").inner_text()
        page.screenshot(path=str(SHOTS / "8-refused-pair.png"), full_page=True)
        page.get_by_role("tab", name="Pathways").click()
        page.locator("#lambda-score").get_by_text("Validation accuracy now", exact=False).wait_for(timeout=30_000)
        # Opening a pair that fits closes the refusal's toast.
        page.get_by_role("tab", name="Models").click()
        page.get_by_role("button", name="Open", exact=True).click()
        page.locator("#models-status").get_by_text("Opened", exact=False).wait_for(timeout=60_000)
        assert _wait(page, lambda: page.locator(TOASTS).count() == 0, 15), "the refusal's toast stayed"
        browser.close()


def _choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in a Gradio dropdown as a user does: type to filter, click the option."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).click()


def _set_number(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def _session_where(predicate):
    import gc
    from m2pt_core.explorer import ExplorerSession
    return next((o for o in gc.get_objects() if isinstance(o, ExplorerSession) and predicate(o)), None)


def test_train_then_open_opens_what_was_trained(url):
    """Train with an auxiliary other than the open pair's, then Open in the Models tab: the pair
    opened (and exported) is the trained one, with its auxiliary and its learned λ."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from m2pt_core.pathways import get_lambdas
    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url)
        assert page.locator("#aux-dropdown input").input_value() == "audio-sounds"   # the page's default pair
        page.get_by_role("tab", name="Train").click()
        _choose(page, "train-dataset", "sounds")
        _choose(page, "train-aux", "image-digits")
        _set_number(page, "train-epochs", 1)
        _set_number(page, "train-size", 200)
        page.get_by_role("button", name="Train baseline + M2PT").click()
        page.locator("#train-status").get_by_text("Done.", exact=True).wait_for(timeout=180_000)
        page.get_by_role("tab", name="Models").click()
        trained = "trained #1 sounds+image-digits · M2PT"
        assert _wait(page, lambda: page.locator("#target-dropdown input").input_value() == trained)
        assert page.locator("#aux-dropdown input").input_value() == "image-digits"
        page.get_by_role("button", name="Open", exact=True).click()
        page.locator("#models-status").get_by_text(trained, exact=False).wait_for(timeout=60_000)
        status = page.locator("#models-status").inner_text()
        assert "with auxiliary image-digits" in status and "merged" not in status, status
        session = _session_where(lambda s: s.target_name == trained)
        learned = get_lambdas(session.trained["trained #1 sounds+image-digits"].m2pt)
        assert any(v != 0 for v in learned.values())
        assert get_lambdas(session.model) == learned == session.learned
        prov = session.provenance()
        assert prov["auxiliary"] == "image-digits" and prov["lambdas"] == learned and not prov["lambdas_edited"]
        assert prov["opened_with"] == []
        page.screenshot(path=str(SHOTS / "9-train-then-open.png"), full_page=True)
        browser.close()


def test_refused_upload_clears_the_previous_result(url, tmp_path):
    """A photo, then a WAV on the image model: the toast says why, and nothing of the photo stays
    on screen beside the WAV's name (status, plots, table)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import soundfile as sf
    from PIL import Image
    photo, wav = tmp_path / "photo.png", tmp_path / "speech.wav"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(photo)
    sf.write(wav, (0.2 * np.sin(np.linspace(0, 900, 16000))).astype(np.float32), 16000)
    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url)
        page.get_by_role("tab", name="Try a sample").click()
        page.locator("#sample-bundled input").click()               # bundled samples: the open model's modality
        options = page.get_by_role("option").all_inner_texts()
        assert options and all(o.startswith("image") for o in options), options
        page.keyboard.press("Escape")
        status = page.locator("#sample-status")
        page.locator("#sample-upload input[type=file]").set_input_files(str(photo))
        status.get_by_text("photo.png", exact=False).wait_for(timeout=60_000)
        plots = page.locator("#sample-plots .js-plotly-plot")
        assert _wait(page, lambda: plots.count() == 2), plots.count()
        page.locator("#sample-upload button[aria-label='Clear']").click()
        page.locator("#sample-upload input[type=file]").set_input_files(str(wav))
        status.get_by_text("speech.wav", exact=False).wait_for(timeout=60_000)
        assert "This model takes images" in status.inner_text() and "photo" not in status.inner_text()
        assert _wait(page, lambda: plots.count() == 0), "the photo's plots stayed"
        page.screenshot(path=str(SHOTS / "10-refused-upload.png"), full_page=True)
        assert page.locator("#sample-plots").get_by_text("Error", exact=True).count() == 0
        browser.close()


TABS = ["Models", "Pathways", "Weights", "Try a sample", "Train", "Ablation", "Your data", "Export"]


def _go_to_tab(page, name: str) -> None:
    """Click a tab, through the "more tabs" menu when the screen is too narrow to show it."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.is_visible():
        tab.click()
        return
    more = page.get_by_role("button", name="More tabs")
    box = more.bounding_box()
    assert box and box["x"] + box["width"] <= page.viewport_size["width"], box   # the menu is on screen
    more.click()
    page.locator(".overflow-dropdown button", has_text=name).click()


def test_every_tab_fits_a_400_px_screen(url):
    """A phone (or a projector-zoomed laptop): no tab is wider than the screen, Open and the
    more-tabs menu are on screen, card labels are not broken mid-word."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 400, "height": 800})
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.get_by_text("Opened", exact=False).first.wait_for(timeout=90_000)
        width = "() => document.documentElement.scrollWidth"
        open_box = page.get_by_role("button", name="Open", exact=True).bounding_box()
        assert open_box["x"] >= 0 and open_box["x"] + open_box["width"] <= 400, open_box
        # Card labels on one line each: "validation accuracy", not "validati / on accuracy".
        lines = page.evaluate("""() => [...document.querySelectorAll('#target-card td:first-child')].map(td => {
            const r = document.createRange(); r.selectNodeContents(td);
            return [td.innerText, new Set([...r.getClientRects()].map(q => Math.round(q.top))).size]; })""")
        assert len(lines) > 5 and all(n == 1 for _, n in lines), lines
        page.screenshot(path=str(SHOTS / "400px-models.png"), full_page=True)
        for name in TABS:
            _go_to_tab(page, name)
            page.wait_for_timeout(600)
            assert page.evaluate(width) <= 400, (name, page.evaluate(width))
            page.screenshot(path=str(SHOTS / f"400px-{name.replace(' ', '-').lower()}.png"), full_page=True)
        browser.close()


@pytest.fixture(scope="module")
def url_with_data(tmp_path_factory):
    """The app with a --data-dir holding a folder of recordings no bundled model can score."""
    from app.main import build_app, launch
    from m2pt_core.data.make_folder import write_folder
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    data = tmp_path_factory.mktemp("data")
    demo = build_app(Catalog(cached_tiny_zoo()), data_dir=data)
    write_folder("sounds", data / "recordings", 60)          # added after the app started
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_own_data_no_model_can_score_offers_training_in_one_click(url_with_data):
    """A newcomer's folder of recordings on the default (image) model: the Your-data tab says why
    nothing is scored and offers training with a time estimate; one click trains on it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url_with_data)
        page.get_by_role("tab", name="Your data").click()
        _choose(page, "data-dataset", "data: recordings")
        page.get_by_role("button", name="Score the open model").click()
        status = page.locator("#data-status")
        status.get_by_text("Next step", exact=False).wait_for(timeout=60_000)
        assert "cannot score" in status.inner_text() and "on this machine" in status.inner_text()
        page.screenshot(path=str(SHOTS / "11-own-data-next-step.png"), full_page=True)
        page.locator("#data-train-next").click()
        page.locator("#train-status").get_by_text("Done.", exact=True).wait_for(timeout=240_000)
        assert page.locator("#train-dataset input").input_value() == "data: recordings"
        assert page.locator("#train-aux input").input_value() == "image-digits"
        assert "test items" in page.locator("#train-result").inner_text()
        browser.close()


_TEXT_CLASHES = """() => { const sel = '.gtitle, .xtitle, .ytitle, .annotation-text, .xtick text, .ytick text';
  const boxes = [...document.querySelectorAll(sel)].filter(e => e.textContent.trim())
    .map(e => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect()]);
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i][1], b = boxes[j][1];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      out.push(boxes[i][0] + ' × ' + boxes[j][0]); }
  const W = document.documentElement.clientWidth;
  return out.concat(boxes.filter(([t, r]) => r.left < -1 || r.right > W + 1).map(([t]) => 'cut off: ' + t)); }"""


def test_figure_labels_neither_overlap_nor_get_cut(tmp_path):
    """The audio input, the confusion matrix (a long title) and the prediction bars (two models),
    drawn by Plotly in Chromium at 640 and 400 px: no title, axis title or tick label overlaps
    another or is cut off."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import pandas as pd
    import torch
    from m2pt_core import figures
    from m2pt_core.figures.inputs import audio_figure
    topk = pd.DataFrame([{"model": m, "rank": r, "class": f"class_{r}_long_name", "prob": 0.5 / r}
                         for m in ["baseline (image-mnist5k)", "M2PT (λ as set)"] for r in range(1, 6)])
    figs = {"audio": audio_figure(torch.rand(1, 16000) - 0.5, 16000, torch.rand(1, 64, 100), title="speech.wav"),
            "confusion": figures.confusion_heatmap(np.random.default_rng(0).integers(0, 20, (10, 10)),
                                                   list("0123456789"), list("0123456789"),
                                                   "m2pt-mnist5k-audio on data: spoken_digits_3000 (all, n = 3000)"),
            "bars": figures.prediction_bars(topk)}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (640, 400):
            page = browser.new_page(viewport={"width": width, "height": 900})
            for name, fig in figs.items():
                path = tmp_path / f"{name}.html"
                fig.write_html(path, include_plotlyjs=True, default_width="100%")
                page.goto(path.as_uri())
                page.wait_for_selector(".main-svg")
                assert page.evaluate(_TEXT_CLASHES) == [], (name, width)
        browser.close()
