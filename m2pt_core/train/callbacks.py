"""Progress callbacks: fit calls ``progress_callback(event: dict)`` per step and per epoch.

Returning False, or raising Cancelled, stops training cleanly: the last finished epoch's
checkpoint stays on disk and fit returns a FitResult with ``cancelled=True``."""
from __future__ import annotations

from typing import Any, Callable, Optional

ProgressCallback = Callable[[dict[str, Any]], Optional[bool]]


class Cancelled(Exception):
    """Raise from a progress callback to stop training."""


def notify(callback: Optional[ProgressCallback], event: dict[str, Any]) -> bool:
    """Call the callback; False when it asks to stop."""
    if callback is None:
        return True
    try:
        return callback(event) is not False
    except Cancelled:
        return False
