"""Statistics over seeds: Student-t confidence intervals and the interquartile mean.

Tables report few seeds (3 to 10), where a percentile bootstrap is too narrow to be honest (with 3
seeds it can never cover more than the range of the 3 values). The t interval
``mean ± t(0.975, n-1) · s / sqrt(n)`` assumes roughly normal per-seed results, and is wide when n is
small, as it should be. The t quantile is computed here from the density (no SciPy needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t with ``df`` degrees of freedom, by Simpson's rule on the density."""
    if x == 0.0:
        return 0.5
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    grid = np.linspace(0.0, abs(x), 4001)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(grid**2 / df))
    h = grid[1] - grid[0]
    area = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
    return 0.5 + math.copysign(area, x)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df >= 1`` degrees of freedom (``0.5 < p < 1``)."""
    if not 0.5 < p < 1.0 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df >= 1, not p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval; ``low``/``high`` are NaN with fewer than 2 values."""

    mean: float
    low: float
    high: float
    n: int


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of ``values`` and its two-sided Student-t confidence interval."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = t_quantile(0.5 + confidence / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def interquartile_mean(values: Sequence[float]) -> float:
    """The mean of the middle 50% of ``values``, trimming a quarter of the mass from each end.

    When ``n`` is not a multiple of 4 the values at the cut points count fractionally (with 3 values
    the lowest and highest weigh 0.25 each and the median 1), so the IQM of few seeds still differs
    from their mean and is robust to one outlying seed.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan
    # Value i covers the mass [i, i+1) of [0, n); keep the part inside [n/4, 3n/4).
    starts = np.arange(n, dtype=float)
    weights = np.clip(np.minimum(starts + 1, 0.75 * n) - np.maximum(starts, 0.25 * n), 0.0, 1.0)
    return float((weights * x).sum() / weights.sum())
