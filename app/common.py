"""Small helpers shared by the panels: the per-session explorer object and error display."""
from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, Optional

import gradio as gr

from m2pt_core.errors import M2PTError
from m2pt_core.explorer import Catalog, ExplorerSession
from m2pt_core.explorer.user_data import UserData

log = logging.getLogger("m2pt.app")


class AppContext:
    """What every panel needs: the shared catalog, the session state, and components other
    panels update (filled in while the layout is built)."""

    def __init__(self, catalog: Catalog, max_eval: int, user_data: Optional[UserData] = None):
        self.catalog = catalog
        self.max_eval = max_eval
        self.user_data = user_data or UserData()   # the user's datasets this app may read
        self.state = gr.State(None, time_to_live=3 * 3600, delete_callback=_close)
        self.c: dict[str, Any] = {}

    def session(self, value: Optional[ExplorerSession]) -> ExplorerSession:
        """This browser session's explorer, created on first use."""
        return value if value is not None else ExplorerSession(self.catalog, max_eval=self.max_eval)


def _close(session: Optional[ExplorerSession]) -> None:
    if session is not None:
        session.close()


def _user_error(e: Exception) -> gr.Error:
    return gr.Error(str(e), duration=None, print_exception=False)


def guard(fn: Callable) -> Callable:
    """Show M2PTError (and other ValueErrors a user can cause) as a Gradio error message; log
    anything unexpected and show it briefly too, so the app keeps serving either way."""
    def handle(e: Exception):
        if isinstance(e, gr.Error):
            return e
        if isinstance(e, (M2PTError, ValueError, KeyError)):
            return _user_error(e if not isinstance(e, KeyError) else ValueError(str(e).strip("'\"")))
        log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(f"Unexpected error ({type(e).__name__}): {e}", print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except GeneratorExit:
                raise
            except Exception as e:  # noqa: BLE001
                raise handle(e) from None
        return gen

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise handle(e) from None
    return wrapper


def pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"
