"""Uncertainty of the numbers a user compares: one place, used by every front end.

    accuracy_interval      accuracy k/n with a Wilson score interval
    paired_comparison      two models (or two λ settings) on the SAME items: paired bootstrap
                           interval of Δaccuracy and Δloss, exact McNemar p-value
    paired_columns         the same, vectorised over many settings against one reference (knockout
                           cells, sweep points): per-item corrects/losses in, no re-evaluation
    seed_interval          mean ± t-interval over seeds of a paired Δ (experiment tables)

An interval "contains 0" when lo ≤ 0 ≤ hi. A paired accuracy difference is called
*distinguishable from 0* only when its bootstrap interval excludes 0 AND the exact McNemar test
agrees (p < 1 − level): with few discordant items the percentile bootstrap alone is too eager
(e.g. 1 vs 7 discordant items: interval excludes 0, McNemar p = 0.07).
Bootstraps are seeded (same numbers on every call) and percentile intervals. Pure numpy + math.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Optional, Sequence

import numpy as np

from ..byte_cache import SharedCache

LEVEL = 0.95
N_BOOT = 1000
SEED = 0
_EXACT_MAX = 5000          # McNemar: exact binomial up to this many discordant items, normal beyond
_BOOT_CHUNK = 2_000_000    # elements of one (rows, N) resampling-weight block


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval at ``level``; ``n`` is the number of items (or seeds)."""
    estimate: float
    lo: float
    hi: float
    level: float
    n: int

    @property
    def contains_zero(self) -> bool:
        return bool(self.lo <= 0.0 <= self.hi)

    @property
    def distinguishable(self) -> bool:
        """True when the interval has finite bounds and lies wholly on one side of 0 (a NaN or
        infinite bound, e.g. from one seed or a failed resample, is never distinguishable)."""
        return bool(math.isfinite(self.lo) and math.isfinite(self.hi)) and not self.contains_zero


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(k: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a proportion k/n (well-behaved at 0, n and small n)."""
    if n <= 0:
        raise ValueError("An accuracy needs at least one item (n = 0).")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n]; got k={k}, n={n}.")
    z = _z(level)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At k = 0 (k = n) the bound is exactly 0 (1); the formula leaves rounding dust there.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return Interval(p, lo, hi, level, n)


def accuracy_interval(correct: Any, level: float = LEVEL) -> Interval:
    """Accuracy of per-item corrects (N,) (bool/0-1) with its Wilson interval."""
    c = _vector(correct, "correct")
    return wilson_interval(int(c.sum()), len(c), level)


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided McNemar p-value from the discordant counts: b items only A gets right, c only B.

    Exact binomial test of b ~ Bin(b + c, 1/2) (up to _EXACT_MAX discordant items; beyond, the
    continuity-corrected normal approximation, which then agrees to many digits)."""
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if n <= _EXACT_MAX:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n     # exact big-integer sum
        return min(1.0, 2.0 * tail)
    chi = (abs(b - c) - 1) / math.sqrt(n)
    return min(1.0, math.erfc(max(chi, 0.0) / math.sqrt(2)))


def _vector(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array of per-item values, got shape {a.shape}.")
    return a


def _matrix(x: Any, n: int, what: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    a = a[None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"{what} must be (K, {n}) per-item values on the reference's items, got {a.shape}.")
    return a


# Resample counts are float64 (n_boot, N): 76 MiB for 10 000 resamples of 1 000 items. They live in a
# byte-capped cache: this module's own, or the dashboard's shared one (use_resample_cache).
RESAMPLE_CACHE_BYTES = 160 * 2**20
_resample_cache = SharedCache(RESAMPLE_CACHE_BYTES)


def use_resample_cache(cache: SharedCache) -> None:
    """Keep the resample counts in ``cache`` (the dashboard's, so they count against its --cache-mb)."""
    global _resample_cache
    _resample_cache = cache


def _resample_counts(N: int, n_boot: int, seed: int) -> tuple[np.ndarray, ...]:
    """How often each of N items occurs in each of n_boot resamples, in blocks (b, N) of float64.
    Cached (under a byte cap): a dashboard re-scores the same items on every slider move."""
    key = ("bootstrap-resamples", N, n_boot, seed)
    cache = _resample_cache
    found = cache.get(key)
    if found is None:
        found = cache.put(key, _draw_resample_counts(N, n_boot, seed), required=False)
    return found


def _draw_resample_counts(N: int, n_boot: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOT_CHUNK // N)
    out = []
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        idx = rng.integers(0, N, size=(b, N))                           # (b, N) resampled items
        counts = np.bincount((idx + N * np.arange(b)[:, None]).ravel(), minlength=b * N).reshape(b, N)
        counts = counts.astype(np.float64)
        counts.setflags(write=False)
        out.append(counts)
    return tuple(out)


def bootstrap_mean_interval(diffs: Any, n_boot: int = N_BOOT, seed: int = SEED,
                            level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi), each (K,), of per-item paired differences diffs (K, N), by a percentile
    bootstrap over items. Every row uses the same resamples (common random numbers), computed as
    resampling-count weights (B, N) @ diffs.T: one matrix product, no Python loop over rows."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[None] if d.ndim == 1 else d                                   # (K, N)
    K, N = d.shape
    if N == 0:
        raise ValueError("No items to bootstrap over.")
    means = np.empty((n_boot, K))                                       # (B, K)
    start = 0
    for counts in _resample_counts(N, n_boot, seed):                    # (b, N) each
        means[start:start + len(counts)] = counts @ d.T / N             # (b, K)
        start += len(counts)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha], axis=0)           # (K,) each
    mean = d.mean(axis=1)
    # A bootstrap of a constant is that constant; keep the point inside its interval despite rounding.
    return mean, np.minimum(lo, mean), np.maximum(hi, mean)


PAIRED_COLUMNS = ["n", "delta_acc_lo", "delta_acc_hi", "delta_loss_lo", "delta_loss_hi", "p_mcnemar",
                  "distinguishable"]


def paired_columns(ref_correct: Any, ref_loss: Any, correct: Any, loss: Any, n_boot: int = N_BOOT,
                   seed: int = SEED, level: float = LEVEL) -> dict[str, np.ndarray]:
    """Paired intervals of K settings against one reference on the same N items.

    ref_*: (N,) per-item corrects / losses of the reference; correct, loss: (K, N). Returns arrays
    (K,) named PAIRED_COLUMNS: n, percentile-bootstrap interval of Δacc (fraction) and Δloss
    (setting − reference), McNemar p, and distinguishable (the Δacc interval excludes 0 and
    p < 1 − level)."""
    rc, rl = _vector(ref_correct, "ref_correct"), _vector(ref_loss, "ref_loss")
    N = len(rc)
    c, l = _matrix(correct, N, "correct"), _matrix(loss, N, "loss")
    if len(rl) != N or len(c) != len(l):
        raise ValueError("ref_correct/ref_loss and correct/loss must describe the same items and settings.")
    K = len(c)
    # Δacc and Δloss rows bootstrapped together on the same resamples: (2K, N).
    _, lo, hi = bootstrap_mean_interval(np.concatenate([c - rc, l - rl]), n_boot, seed, level)
    better = ((c > 0.5) & (rc < 0.5)).sum(axis=1)                       # only the setting right
    worse = ((c < 0.5) & (rc > 0.5)).sum(axis=1)                        # only the reference right
    p = np.array([mcnemar_p(w, b) for b, w in zip(better, worse)])
    return {"n": np.full(K, N), "delta_acc_lo": lo[:K], "delta_acc_hi": hi[:K], "delta_loss_lo": lo[K:],
            "delta_loss_hi": hi[K:], "p_mcnemar": p,
            "distinguishable": ((lo[:K] > 0) | (hi[:K] < 0)) & (p < 1.0 - level)}


def paired_score_columns(base: Any, scores: Sequence[Any], n_boot: int = N_BOOT, seed: int = SEED,
                         level: float = LEVEL) -> dict[str, np.ndarray]:
    """paired_columns of several analysis Scores (kept per item) against a reference Score."""
    rc, rl = base.per_item()
    if not scores:
        return {c: np.zeros(0) for c in PAIRED_COLUMNS}
    items = [s.per_item() for s in scores]
    return paired_columns(rc.numpy(), rl.numpy(), np.stack([c.numpy() for c, _ in items]),
                          np.stack([lo.numpy() for _, lo in items]), n_boot, seed, level)


@dataclass(frozen=True)
class PairedComparison:
    """B against A on the same items: Δ = B − A (accuracy as a fraction; loss in nats)."""
    acc_a: Interval
    acc_b: Interval
    delta_acc: Interval
    delta_loss: Optional[Interval]
    only_a: int                      # items only A gets right
    only_b: int                      # items only B gets right
    p_mcnemar: float

    @property
    def n(self) -> int:
        return self.delta_acc.n

    @property
    def distinguishable(self) -> bool:
        """The Δacc interval excludes 0 and McNemar agrees (p < 1 − level)."""
        return self.delta_acc.distinguishable and self.p_mcnemar < 1.0 - self.delta_acc.level

    def describe(self, what: str = "Δ accuracy") -> str:
        """E.g. "Δ accuracy +2.10 points (95% CI −0.40 to +4.60; McNemar p = 0.11; 750 items): not
        distinguishable from 0"."""
        d = self.delta_acc
        verdict = "distinguishable from 0" if self.distinguishable else "not distinguishable from 0"
        return (f"{what} {100 * d.estimate:+.2f} points ({100 * d.level:.0f}% CI {100 * d.lo:+.2f} to "
                f"{100 * d.hi:+.2f}; McNemar p = {self.p_mcnemar:.2g}; {d.n} items): {verdict}")


def paired_comparison(correct_a: Any, correct_b: Any, loss_a: Any = None, loss_b: Any = None,
                      n_boot: int = N_BOOT, seed: int = SEED, level: float = LEVEL) -> PairedComparison:
    """Compare B with A on the same items from their per-item corrects (N,) and, optionally,
    per-item losses (N,): Wilson interval of each accuracy, paired bootstrap interval of Δacc and
    Δloss, exact McNemar p-value. Nothing is re-evaluated."""
    a, b = _vector(correct_a, "correct_a"), _vector(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"A paired comparison needs the same items: {len(a)} vs {len(b)} per-item values.")
    rows = [b - a]
    if loss_a is not None and loss_b is not None:
        la, lb = _vector(loss_a, "loss_a"), _vector(loss_b, "loss_b")
        if len(la) != len(a) or len(lb) != len(a):
            raise ValueError("Per-item losses must be given for the same items as the corrects.")
        rows.append(lb - la)
    mean, lo, hi = bootstrap_mean_interval(np.stack(rows), n_boot, seed, level)
    n = len(a)
    only_a, only_b = int(((a > 0.5) & (b < 0.5)).sum()), int(((b > 0.5) & (a < 0.5)).sum())
    dl = Interval(float(mean[1]), float(lo[1]), float(hi[1]), level, n) if len(rows) == 2 else None
    return PairedComparison(accuracy_interval(a, level), accuracy_interval(b, level),
                            Interval(float(mean[0]), float(lo[0]), float(hi[0]), level, n), dl,
                            only_a, only_b, mcnemar_p(only_a, only_b))


# ── over seeds ────────────────────────────────────────────────────────────────────────────────

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t distribution function."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of t_cdf (bisection to 1e-12), for p in (0, 1) and df > 0."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0; got p={p}, df={df}.")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class SeedSummary:
    """Mean of a per-seed paired Δ with its t-interval; ``std`` is the sample std over seeds."""
    mean: float
    std: float
    n: int
    interval: Interval

    @property
    def half_width(self) -> float:
        return (self.interval.hi - self.interval.lo) / 2

    @property
    def distinguishable(self) -> bool:
        return self.interval.distinguishable

    def describe(self, scale: float = 100.0, unit: str = "points") -> str:
        """E.g. "over 3 seeds: Δ = −0.58 ± 1.64 points (95% t-interval; std 0.66): not
        distinguishable from 0"."""
        if self.n < 2:
            return f"{self.n} seed: Δ = {scale * self.mean:+.2f} {unit} (one run: no interval)"
        verdict = "distinguishable from 0" if self.distinguishable else "not distinguishable from 0"
        return (f"over {self.n} seeds: Δ = {scale * self.mean:+.2f} ± {scale * self.half_width:.2f} {unit} "
                f"({100 * self.interval.level:.0f}% t-interval; std {scale * self.std:.2f}): {verdict}")


def seed_interval(deltas: Optional[Sequence[float]] = None, *, mean: Optional[float] = None,
                  std: Optional[float] = None, n: Optional[int] = None, level: float = LEVEL) -> SeedSummary:
    """Mean ± t-interval (n − 1 degrees of freedom) of per-seed paired differences, given either
    the per-seed values or their mean, sample std and count (as a results table reports them).
    With one seed the interval is unbounded (−inf, inf): one run says nothing about seed noise."""
    if deltas is not None:
        v = np.asarray([x for x in deltas if x is not None and not (isinstance(x, float) and math.isnan(x))],
                       dtype=np.float64)
        n, mean = len(v), float(v.mean()) if len(v) else math.nan
        std = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    if n is None or mean is None:
        raise ValueError("Give the per-seed deltas, or mean, std and n.")
    if n < 1:
        raise ValueError("No seeds to summarise.")
    if n < 2 or std is None or math.isnan(std):
        return SeedSummary(float(mean), math.nan, int(n), Interval(float(mean), -math.inf, math.inf, level, int(n)))
    half = t_quantile(0.5 + level / 2, n - 1) * float(std) / math.sqrt(n)
    return SeedSummary(float(mean), float(std), int(n),
                       Interval(float(mean), float(mean) - half, float(mean) + half, level, int(n)))
