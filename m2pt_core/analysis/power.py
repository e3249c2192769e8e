"""Power of a paired design: the smallest effect it can detect, the seeds a target effect needs,
and where a cross-modal result falls between the negative and positive controls.

All effects are paired differences (arm − baseline of the same seed), as fractions (0.01 = 1 point).
The minimum detectable effect (MDE) at two-sided level ``alpha`` and ``power`` for a paired t-test
over n seeds with per-seed spread sd is

    MDE = (t[1 − alpha/2, n−1] + t[power, n−1]) · sd / √n

and for one run scored on n items with a share p of discordant items (one model right, the other
wrong), with normal quantiles, (z[1 − alpha/2] + z[power]) · √(p / n). A "no difference" is then
worded "no effect larger than MDE"."""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Optional, Sequence

import numpy as np

from .intervals import t_quantile

ALPHA = 0.05
POWER = 0.80


def seed_mde(sd: float, n_seeds: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """MDE of the mean paired Δ over ``n_seeds`` with per-seed std ``sd``; NaN below two seeds."""
    if n_seeds < 2 or sd is None or not math.isfinite(sd):
        return math.nan
    df = n_seeds - 1
    return (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * sd / math.sqrt(n_seeds)


def item_mde(discordant_share: float, n_items: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """MDE of one paired comparison on ``n_items`` items with this share of discordant items."""
    if n_items < 1:
        return math.nan
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * math.sqrt(max(discordant_share, 1.0 / n_items) / n_items)


def seeds_needed(effect: float, sd: float, alpha: float = ALPHA, power: float = POWER,
                 max_seeds: int = 200) -> Optional[int]:
    """The fewest seeds whose MDE is at most ``effect`` (None: more than ``max_seeds``)."""
    if not effect > 0 or not sd >= 0:
        raise ValueError(f"effect must be > 0 and sd >= 0, got effect={effect}, sd={sd}.")
    if sd == 0:
        return 2                                   # no spread at all: the fewest seeds that give one
    for n in range(2, max_seeds + 1):
        if seed_mde(sd, n, alpha, power) <= effect:
            return n
    return None


@dataclass(frozen=True)
class TransferRatio:
    """(Δcross − Δrandom) / (Δpositive − Δrandom): 0 = as the random control, 1 = as the positive."""
    estimate: float
    lo: float
    hi: float
    n_seeds: int
    note: str

    def describe(self) -> str:
        if not math.isfinite(self.estimate):
            return f"transfer ratio undefined ({self.note})"
        return (f"transfer ratio {self.estimate:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] "
                f"(95% bootstrap over {self.n_seeds} seeds; 0 = random control, 1 = positive control)")


def transfer_ratio(cross: Sequence[float], random: Sequence[float], positive: Sequence[float],
                   level: float = 0.95, n_boot: int = 4000, seed: int = 0) -> TransferRatio:
    """Ratio of mean paired Δ, its percentile bootstrap interval over seeds (resampled jointly: the
    three arms of a seed share that seed's baseline). Undefined (NaN) when the positive control does
    not beat the random one in the mean, and the interval is unbounded where resamples cross zero in
    the denominator, since then the ratio is not bounded by the data."""
    c, r, p = (np.asarray(v, dtype=np.float64) for v in (cross, random, positive))
    if not (len(c) == len(r) == len(p)) or len(c) < 2:
        return TransferRatio(math.nan, math.nan, math.nan, len(c), "needs the three arms on the same ≥ 2 seeds")
    den = p.mean() - r.mean()
    if not den > 0:
        return TransferRatio(math.nan, math.nan, math.nan, len(c),
                             "the positive control does not beat the random control: nothing to scale by")
    est = (c.mean() - r.mean()) / den
    idx = np.random.default_rng(seed).integers(0, len(c), size=(n_boot, len(c)))
    dens = p[idx].mean(1) - r[idx].mean(1)
    nums = c[idx].mean(1) - r[idx].mean(1)
    if (dens <= 0).mean() > (1 - level) / 2:
        return TransferRatio(float(est), -math.inf, math.inf, len(c),
                             "the positive control's margin over random is not resolved: unbounded interval")
    ratios = nums[dens > 0] / dens[dens > 0]
    lo, hi = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return TransferRatio(float(est), float(lo), float(hi), len(c), "")
