"""Shared by the browser tests (Playwright driving headless Debian Chromium at /usr/bin/chromium;
never downloads a browser): serving the app, opening the page, waiting, and reading what the
page's sessions hold. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"

BROWSER_MARKS = [pytest.mark.browser,
                 pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url():
    """The app on the tiny zoo (M2PT_BROWSER_ZOO=assets/zoo for the real screenshots)."""
    from app.main import build_app, launch
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    zoo = os.environ.get("M2PT_BROWSER_ZOO")            # set to assets/zoo for the real screenshots
    demo = build_app(Catalog(zoo or cached_tiny_zoo()))
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


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
