"""Small helpers shared by the panels: the per-session explorer object and error display."""
from __future__ import annotations

import functools
import inspect
import logging
import weakref
from typing import Any, Callable, Optional

import gradio as gr

from m2pt_core.errors import M2PTError
from m2pt_core.explorer import Catalog, ExplorerSession
from m2pt_core.explorer.user_data import UserData

log = logging.getLogger("m2pt.app")


DEFAULT_SESSION_TTL_S = 3600


class AppContext:
    """What every panel needs: the shared catalog, the session state, and components other
    panels update (filled in while the layout is built).

    A session's state is deleted (and its models and cache entries freed) ``session_ttl`` seconds
    after its last use, or an hour after its page closed (Gradio's rule); its cached evaluations
    are dropped as soon as the page closes (demo.unload), since they can be recomputed."""

    def __init__(self, catalog: Catalog, max_eval: int, user_data: Optional[UserData] = None,
                 session_ttl: float = DEFAULT_SESSION_TTL_S):
        self.catalog = catalog
        self.max_eval = max_eval
        self.user_data = user_data or UserData()   # the user's datasets this app may read
        self.state = gr.State(None, time_to_live=session_ttl, delete_callback=_close)
        self.c: dict[str, Any] = {}
        self._pages: "weakref.WeakValueDictionary[str, ExplorerSession]" = weakref.WeakValueDictionary()

    def session(self, value: Optional[ExplorerSession]) -> ExplorerSession:
        """This browser session's explorer, created on first use."""
        return value if value is not None else ExplorerSession(self.catalog, max_eval=self.max_eval)

    def register_page(self, request: Optional[gr.Request], session: ExplorerSession) -> None:
        """Remember which page a session belongs to, for page_closed."""
        if request is not None and getattr(request, "session_hash", None):
            self._pages[request.session_hash] = session

    def touching(self, fn: Callable, outputs: Optional[list]) -> dict[str, Any]:
        """``fn(state, ...)`` wired so that it also hands the session back: Gradio re-arms a
        gr.State's time-to-live only when the state is an output, so a call that only reads the
        session (a sweep, a knockout, a view) would otherwise let a session in use expire
        mid-use. Returns the listener's ``fn`` and ``outputs`` (the state first)."""
        n = len(outputs or [])

        def pack(state: Any, out: Any) -> Any:
            return state if n == 0 else (state, out) if n == 1 else (state, *out)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(state, *args, **kwargs):
                for out in fn(state, *args, **kwargs):
                    yield pack(state, out)
            return {"fn": gen, "outputs": [self.state, *(outputs or [])]}

        @functools.wraps(fn)
        def wrapper(state, *args, **kwargs):
            return pack(state, fn(state, *args, **kwargs))
        return {"fn": wrapper, "outputs": [self.state, *(outputs or [])]}

    def page_closed(self, request: gr.Request) -> None:
        """demo.unload: the page's cached evaluations go at once (the state itself stays an hour)."""
        session = self._pages.pop(getattr(request, "session_hash", None) or "", None)
        if session is not None:
            session.release_cache()


def _close(session: Optional[ExplorerSession]) -> None:
    if session is not None:
        session.close()


ERROR_SECONDS = 12      # error toasts close by themselves (and on the next successful change)
WARNING_SECONDS = 8
# Closes every toast on the page: run after an action succeeded, so no message outlives the state
# it talked about.
CLEAR_TOASTS_JS = "() => { document.querySelectorAll('[data-testid=\"toast-close\"]').forEach(b => b.click()); }"


def clear_toasts(event: Any) -> Any:
    """After ``event`` succeeds, close the error and warning toasts still on screen (for actions
    whose success shows no toast of its own)."""
    return event.success(None, None, None, js=CLEAR_TOASTS_JS, queue=False, api_visibility="private")


def clear_toasts_on(trigger: Callable) -> None:
    """When ``trigger`` fires (e.g. ``button.click``), close the toasts about the state before it,
    at once in the page, before the action's own messages arrive."""
    trigger(None, None, None, js=CLEAR_TOASTS_JS, queue=False, api_visibility="private")


def warn(message: str) -> None:
    gr.Warning(message, duration=WARNING_SECONDS)


def _user_error(e: Exception) -> gr.Error:
    return gr.Error(str(e), duration=ERROR_SECONDS, print_exception=False)


def guard(fn: Callable) -> Callable:
    """Show M2PTError (and other ValueErrors a user can cause) as a Gradio error message; log
    anything unexpected and show it briefly too, so the app keeps serving either way."""
    def handle(e: Exception):
        if isinstance(e, gr.Error):
            return e
        if isinstance(e, (M2PTError, ValueError, KeyError)):
            return _user_error(e if not isinstance(e, KeyError) else ValueError(str(e).strip("'\"")))
        log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(f"Unexpected error ({type(e).__name__}): {e}", duration=ERROR_SECONDS, print_exception=False)

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
