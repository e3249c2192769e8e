"""The λ controls in headless Chromium: keys, the number box, clamped values and drags keep the
session's λ, the heatmap and the table on the value the slider shows."""
from __future__ import annotations

import pytest

from tests.browser_support import BROWSER_MARKS, SHOTS, TOASTS, _open_page, _sessions_lambda, _wait, url  # noqa: F401 (the url fixture)

pytestmark = BROWSER_MARKS


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


_SHOWN_LAYER0 = """() => {
  const plot = document.querySelector('#lambda-heatmap .js-plotly-plot');
  const z = plot && plot._fullData && plot._fullData.length ? plot._fullData[0].z : null;   // decoded
  const heat = z ? Array.from(z, row => Number(row[0])) : [];
  const cell = c => document.querySelector(`#lambda-table [role=gridcell][data-row="0"][data-col="${c}"]`);
  const row = [0, 1, 2, 3, 4].map(c => cell(c) ? cell(c).textContent.trim() : null);   // layer 0's row
  return {heat, table: row[0] === '0' ? row.slice(1).map(Number) : []}; }"""


def test_a_drag_keeps_slider_heatmap_and_table_in_step_while_moves_are_scored(url, monkeypatch):
    """Scoring a move takes its time (here 1.5 s, as a loaded server's whole split did): while the
    slider moves on, the heatmap and the table show the slider's λ within a moment, not the λ of
    whichever older move was scored last; the score catches up and says which λ it scored."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import time
    from m2pt_core.explorer.evaluation import SharedEvaluator
    from m2pt_core.explorer.session import _SESSION_IDS
    first = next(_SESSION_IDS)
    evaluate = SharedEvaluator.evaluate

    def slow(self):
        time.sleep(1.5)
        return evaluate(self)

    with sync_api.sync_playwright() as p:
        browser, page = _open_page(p, url)
        page.get_by_role("tab", name="Pathways").click()
        page.locator("#lambda-score").get_by_text("Validation accuracy now", exact=False).wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        monkeypatch.setattr(SharedEvaluator, "evaluate", slow)
        number = page.locator("#lambda-slider input[type=number]")
        rng = page.locator("#lambda-slider input[type=range]")
        rng.focus()
        for _ in range(5):                                     # a drag: five moves in half a second
            rng.press("ArrowRight")
            page.wait_for_timeout(100)
        shown = float(number.input_value())

        def in_step() -> bool:
            got = page.evaluate(_SHOWN_LAYER0)
            return (len(got["heat"]) == 4 and len(got["table"]) == 4
                    and all(abs(v - shown) < 1e-4 for v in got["heat"] + got["table"]))
        assert _wait(page, in_step, 1.2), (shown, page.evaluate(_SHOWN_LAYER0))
        for _ in range(12):                                    # and stay there while older moves are scored
            page.wait_for_timeout(250)
            assert in_step(), (shown, page.evaluate(_SHOWN_LAYER0))
        # The score catches up with the last move, and the session holds the λ on the page.
        assert _wait(page, lambda: _sessions_lambda(since=first) == {round(shown, 5)}, 30)
        page.locator("#lambda-score").get_by_text("Validation accuracy now", exact=False).wait_for(timeout=30_000)
        assert _wait(page, lambda: "newest λ" not in page.locator("#lambda-score").inner_text(), 30)
        assert in_step()
        browser.close()
