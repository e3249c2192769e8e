"""The dashboard on a narrow screen (400 px) and its figures in Chromium: nothing wider than the
screen, no label overlapping another or cut off."""
from __future__ import annotations

import numpy as np
import pytest

from tests.browser_support import ARGS, BROWSER_MARKS, CHROMIUM, SHOTS, TABS, _go_to_tab, url  # noqa: F401 (the url fixture)

pytestmark = BROWSER_MARKS


# (cell text, number of lines it takes) for every visible element matching a selector.
_LINES_PER_CELL = """sel => [...document.querySelectorAll(sel)].filter(e => e.offsetParent).map(e => {
    const r = document.createRange(); r.selectNodeContents(e);
    return [e.innerText, new Set([...r.getClientRects()].map(q => Math.round(q.top))).size]; })"""
# Visible rows of markdown tables with 3+ columns that are more than two lines high.
_TALL_ROWS = """() => [...document.querySelectorAll('.prose table')].filter(t => t.offsetParent && t.querySelector('th:nth-child(3)'))
    .flatMap(t => [...t.querySelectorAll('tr')]).map(tr => [tr.innerText.slice(0, 40), tr.getBoundingClientRect().height])
    .filter(([_, h]) => h > 64)"""


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
        lines = page.evaluate(_LINES_PER_CELL, "#target-card td:first-child")
        assert len(lines) > 5 and all(n == 1 for _, n in lines), lines
        # Table headers are not broken mid-word either ("la / ye / r"): wide tables scroll instead.
        headers = page.evaluate(_LINES_PER_CELL, "[role=columnheader] .header-content span")
        assert headers and all(n == 1 for _, n in headers), headers
        page.screenshot(path=str(SHOTS / "400px-models.png"), full_page=True)
        for name in TABS:
            _go_to_tab(page, name)
            page.wait_for_timeout(600)
            assert page.evaluate(width) <= 400, (name, page.evaluate(width))
            # Rows of markdown tables with many columns (the ablation summary) stay one line high.
            tall = page.evaluate(_TALL_ROWS)
            assert not tall, (name, tall[:3])
            page.screenshot(path=str(SHOTS / f"400px-{name.replace(' ', '-').lower()}.png"), full_page=True)
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
