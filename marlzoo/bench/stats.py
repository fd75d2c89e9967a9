"""Statistics over seeds: Student-t intervals, the interquartile mean, its stratified bootstrap, and
the probability of improvement.

Two kinds of interval, for two questions:

- ``t_interval``: where the *mean* would lie with more seeds. ``mean ± t(0.975, n-1) · s / sqrt(n)``
  assumes roughly normal per-seed results and is wide when n is small, as it should be (with 2 seeds
  the factor is 12.7). The t quantile is computed here from the density (no SciPy needed).
- ``bootstrap_iqm``: the interquartile mean (IQM) and its 95% percentile interval from the stratified
  bootstrap of Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical
  Precipice", as rliable (``get_interval_estimates`` with ``aggregate_iqm``) and marl-eval compute it:
  resample the runs of each task with replacement, keep the tasks fixed, take the IQM of the pooled
  resample, and read the 2.5th and 97.5th percentiles of those IQMs. A bootstrap can only recombine
  the values it has, so the interval always lies inside their range: with 2 or 3 seeds it shows how far
  apart the seeds fell, not how far the IQM of more seeds could move. It is the band of the learning
  curves, where the t interval of 2 seeds would dwarf the curves.

``probability_of_improvement`` is the same paper's P(X > Y): for each task, the chance that a run of X
scores above a run of Y, ties counting one half (the Mann-Whitney U statistic over ``n_x · n_y``),
averaged over tasks. Its interval resamples the runs of X and of Y independently within each task.

Every bootstrap draws from its own ``numpy`` generator with a fixed seed, so a table is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

REPS = 50_000  # bootstrap resamples, rliable's default for interval estimates
SEED = 0


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
    """A point estimate (a mean, an IQM, a probability) and its confidence interval.

    ``low``/``high`` are NaN when there is nothing to resample: fewer than 2 values (for a
    stratified bootstrap, no task with 2 runs).
    """

    point: float
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


def _iqm_last_axis(x: np.ndarray) -> np.ndarray:
    """The IQM along the last axis: sort, drop ``n // 4`` values at each end, average the rest."""
    n = x.shape[-1]
    cut = n // 4
    return np.sort(x, axis=-1)[..., cut:n - cut].mean(axis=-1)


def interquartile_mean(values: Sequence[float]) -> float:
    """The mean of the middle 50% of ``values``: the 25% trimmed mean rliable's ``aggregate_iqm`` uses.

    It drops the ``floor(n/4)`` lowest and highest values, whole values only, as ``scipy.stats.trim_mean
    (x, 0.25)`` does; with fewer than 4 values nothing is dropped and the IQM is the mean.
    """
    x = np.asarray(values, dtype=float).ravel()
    return float(_iqm_last_axis(x)) if len(x) else math.nan


def _tasks(tasks: Sequence[Sequence[float]]) -> list[np.ndarray]:
    arrays = [np.asarray(t, dtype=float).ravel() for t in tasks]
    return [a for a in arrays if len(a)]


def _percentiles(stats: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(stats, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_iqm(tasks: Sequence[Sequence[float]], reps: int = REPS, confidence: float = 0.95,
                  seed: int = SEED) -> Interval:
    """The IQM of the runs of every task pooled, and its stratified-bootstrap percentile interval.

    ``tasks`` holds one sequence of run scores per task (one task: a single algorithm on one env).
    """
    arrays = _tasks(tasks)
    n = sum(len(a) for a in arrays)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    point = interquartile_mean(np.concatenate(arrays))
    if max(len(a) for a in arrays) < 2:
        return Interval(point, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([a[rng.integers(0, len(a), size=(reps, len(a)))] for a in arrays], axis=1)
    low, high = _percentiles(_iqm_last_axis(pooled), confidence)
    return Interval(point, float(low), float(high), n)


def iqm_band(values: np.ndarray, reps: int = REPS, confidence: float = 0.95,
             seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise IQM over runs of ``values [n_runs, n_points]`` and its bootstrap interval at each point.

    The interval is pointwise: at each point it is the one-task bootstrap of :func:`bootstrap_iqm`
    (the points of a batch share their resampled runs). With one run it is NaN.
    """
    values = np.asarray(values, dtype=float)
    n, points = values.shape
    centre = _iqm_last_axis(values.T)
    if n < 2:
        nan = np.full(points, math.nan)
        return centre, nan, nan.copy()
    rng = np.random.default_rng(seed)
    low, high = np.empty(points), np.empty(points)
    chunk = max(1, 2_000_000 // (reps * n))  # points per batch, to bound the memory of the resamples
    for start in range(0, points, chunk):
        idx = rng.integers(0, n, size=(reps, n))
        part = values[:, start:start + chunk][idx]  # [reps, n, points in chunk]
        low[start:start + chunk], high[start:start + chunk] = _percentiles(_iqm_last_axis(np.moveaxis(part, 1, -1)),
                                                                           confidence)
    return centre, low, high


def _wins(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(a run of x beats a run of y), ties one half, over the last two axes of ``x[..., n, 1]`` and ``y[..., 1, m]``."""
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))


def probability_of_improvement(x_tasks: Sequence[Sequence[float]], y_tasks: Sequence[Sequence[float]]) -> float:
    """P(X > Y) averaged over tasks: ``x_tasks[m]`` and ``y_tasks[m]`` are the runs of X and Y on task m.

    Per task it is the Mann-Whitney U statistic of X over Y divided by ``n_x · n_y``; identical samples
    give exactly 0.5, and X above every run of Y gives 1.
    """
    pairs = [(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(x_tasks, y_tasks, strict=True)]
    pairs = [(x, y) for x, y in pairs if len(x) and len(y)]
    if not pairs:
        return math.nan
    return float(np.mean([_wins(x[:, None], y[None, :]) for x, y in pairs]))


def bootstrap_probability_of_improvement(x_tasks: Sequence[Sequence[float]], y_tasks: Sequence[Sequence[float]],
                                         reps: int = REPS, confidence: float = 0.95, seed: int = SEED) -> Interval:
    """:func:`probability_of_improvement` and its percentile interval, X's and Y's runs resampled
    independently within each task (rliable's ``StratifiedIndependentBootstrap``)."""
    pairs = [(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(x_tasks, y_tasks, strict=True)]
    pairs = [(x, y) for x, y in pairs if len(x) and len(y)]
    point = probability_of_improvement([x for x, _ in pairs], [y for _, y in pairs])
    n = sum(len(x) + len(y) for x, y in pairs)
    if not pairs or max(max(len(x), len(y)) for x, y in pairs) < 2:
        return Interval(point, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)
    total = np.zeros(reps)
    for x, y in pairs:
        xs = x[rng.integers(0, len(x), size=(reps, len(x)))]
        ys = y[rng.integers(0, len(y), size=(reps, len(y)))]
        total += _wins(xs[:, :, None], ys[:, None, :])
    low, high = _percentiles(total / len(pairs), confidence)
    return Interval(point, float(low), float(high), n)
