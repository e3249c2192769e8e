"""Progress, ETA and Stop for the dashboard's long actions (knockout map, λ sweep, whole-split
scoring, ablation runs), free of any UI code.

A ``JobProgress`` is handed to the library's loops as their ``progress`` callback: they call it with
the fraction of their work done (0..1, in units of equal cost, e.g. transformer blocks run). It
turns that into a line with the time elapsed and left (remaining = elapsed × (1 − f) / f, from the
rate so far), hands the line to ``report`` (the page's progress bar), and raises ``JobStopped`` when
its ``stop`` event is set, so a Stop ends the computation itself between two blocks, not only the
page's wait for it (the session's lock is free again at once)."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, Sequence

from ..errors import M2PTError

# How often (seconds) the page's progress bar is updated at most; the stop check runs every call.
REPORT_EVERY_S = 0.5
# Tokens per chunk of a job that can be stopped: the stop is checked after every probe of a chunk,
# so a chunk is small enough that one probe from block 0 of a ViT-B (5 items × 197 tokens through
# 12 blocks) takes ~2 s on 2 CPU cores; a demo-size model (17 tokens) still runs 60 items at once.
STOP_TOKENS = 1024


class JobStopped(M2PTError):
    """The user pressed Stop; what was finished before it may be kept by the caller."""


def duration(seconds: float) -> str:
    """'8 s', '2 min 05 s', '1 h 02 min'."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta_line(fraction: float, elapsed: float) -> str:
    """'40% · 12 s elapsed · about 18 s left' (no estimate before any work is done)."""
    f = min(max(fraction, 0.0), 1.0)
    left = "estimating time left" if f <= 0 else f"about {duration(elapsed * (1 - f) / f)} left"
    return f"{100 * f:.0f}% · {duration(elapsed)} elapsed · {left}"


class JobProgress:
    """The ``progress`` callback of one long action. ``what`` names it ('Knockout map on 32
    validation items'); ``report(fraction, line)`` shows the line (e.g. gr.Progress); ``stop`` is
    checked on every call. ``part(i, weights)`` gives the callback of part i of a job made of parts
    of unequal cost (a sweep's layers), so its fraction is that of the whole job."""

    def __init__(self, what: str, report: Optional[Callable[[float, str], None]] = None,
                 stop: Optional[threading.Event] = None, clock: Callable[[], float] = time.perf_counter):
        self.what, self.report, self.stop, self.clock = what, report, stop, clock
        self.start = clock()
        self.fraction = 0.0
        self._last_report = float("-inf")

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    def line(self) -> str:
        return f"{self.what}: {eta_line(self.fraction, self.elapsed)}"

    def __call__(self, fraction: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise JobStopped(f"{self.what}: stopped after {duration(self.elapsed)} "
                             f"({100 * self.fraction:.0f}% done).")
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        now = self.clock()
        if self.report is not None and (now - self._last_report >= REPORT_EVERY_S or self.fraction >= 1.0):
            self._last_report = now
            self.report(self.fraction, self.line())

    def part(self, i: int, weights: list[float]) -> Callable[[float], None]:
        """Callback for part ``i`` of parts costing ``weights``: maps its own 0..1 into the job's."""
        total = float(sum(weights)) or 1.0
        before = sum(weights[:i]) / total
        share = weights[i] / total
        return lambda f: self(before + share * f)

    def done_line(self) -> str:
        return f"{self.what}: done in {duration(self.elapsed)}."


def stoppable_batch(model: Any, default: int = 512) -> int:
    """Items per chunk for a knockout or sweep that a Stop ends within about a probe's time."""
    tokens = getattr(getattr(model, "tokenizer", None), "num_tokens", None)
    return default if tokens is None else max(1, min(default, STOP_TOKENS // (tokens + 1)))


def sweep_costs(layers: list[int], depth: int, grid: Optional[Sequence[float]], mode: str) -> list[float]:
    """Relative cost of sweeping each layer alone (blocks run per item): the base pass (``depth``
    blocks) plus ``depth - i`` blocks for each grid value at layer i; layer 0 costs the most."""
    from ..analysis.sweep import DEFAULT_GRIDS
    g = len(DEFAULT_GRIDS[mode] if grid is None else grid)
    return [float(depth + g * (depth - i)) for i in layers]
