"""The statistics of the tables and figures: the IQM, its stratified bootstrap, the probability of
improvement, against hand-computed cases, exact enumeration and rliable's published definitions
(Agarwal et al., 2021: ``scipy.stats.trim_mean(x, 0.25)`` and the Mann-Whitney U statistic)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from marlzoo.bench.stats import (bootstrap_iqm, bootstrap_probability_of_improvement, interquartile_mean, iqm_band,
                                 probability_of_improvement)


def test_iqm_by_hand():
    assert interquartile_mean([4, 1, 3, 2]) == pytest.approx(2.5)  # drop 1 and 4: mean of 2, 3
    assert interquartile_mean([1, 2, 3, 100]) == pytest.approx(2.5)  # the outlier is dropped
    assert interquartile_mean([8, 7, 6, 5, 4, 3, 2, 1]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert interquartile_mean([1, 2, 3, 4, 5, 1000]) == pytest.approx(3.5)  # 6 // 4 = 1 dropped each end
    assert interquartile_mean([0, 10, 1000]) == pytest.approx(1010 / 3)  # fewer than 4: nothing dropped
    assert math.isnan(interquartile_mean([]))


def test_iqm_is_rliables_trimmed_mean():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for n in range(1, 23):
        x = rng.normal(size=n) * 50 - 60
        assert interquartile_mean(x) == pytest.approx(stats.trim_mean(x, 0.25), abs=1e-12), n
    matrix = rng.normal(size=(5, 3))  # rliable's aggregate_iqm pools runs x tasks
    assert interquartile_mean(matrix) == pytest.approx(stats.trim_mean(matrix, 0.25, axis=None))


def test_bootstrap_of_constant_data_is_degenerate():
    iv = bootstrap_iqm([[-42.0] * 5])
    assert (iv.point, iv.low, iv.high, iv.n) == (-42.0, -42.0, -42.0, 5)


def test_one_value_has_no_interval():
    iv = bootstrap_iqm([[-7.0]])
    assert iv.point == -7.0 and math.isnan(iv.low) and math.isnan(iv.high)
    assert math.isnan(bootstrap_iqm([[]]).point)


@pytest.mark.parametrize("values", [[-90.0, -60.0], [-95.0, -61.0, -58.0], [-80.0, -79.0, -75.0, -10.0]])
def test_bootstrap_interval_lies_in_the_observed_range(values):
    iv = bootstrap_iqm([values])
    assert min(values) <= iv.low <= iv.point <= iv.high <= max(values)
    assert iv.high - iv.low > 0


def test_bootstrap_matches_exact_enumeration():
    # With n runs there are n^n equally likely resamples. Their IQMs' 2.5% and 97.5% quantiles (the
    # inverse of their distribution function) are the bootstrap's exact answer, which 50,000 random
    # resamples must come close to. With 5 and 6 runs the extreme resamples weigh under 2.5%, so the
    # interval is strictly inside the range.
    for values in ([-100.0, -71.0, -66.0, -64.5, -52.0], [-3.0, 1.0, 4.0, 12.0, 13.5, 30.0]):
        n = len(values)
        exact = np.sort([interquartile_mean([values[i] for i in idx]) for idx in itertools.product(range(n), repeat=n)])
        low, high = exact[math.ceil(0.025 * len(exact)) - 1], exact[math.ceil(0.975 * len(exact)) - 1]
        assert min(values) < low < high < max(values)
        iv = bootstrap_iqm([values])
        spread = max(values) - min(values)
        assert iv.low == pytest.approx(low, abs=0.01 * spread) and iv.high == pytest.approx(high, abs=0.01 * spread)


def test_two_runs_give_their_range():
    # Resamples of (a, b): (a, a) a quarter of the time, (b, b) a quarter, the mean otherwise.
    iv = bootstrap_iqm([[-80.0, -60.0]])
    assert (iv.point, iv.low, iv.high) == (-70.0, -80.0, -60.0)


def test_the_bootstrap_is_stratified_by_task_and_reproducible():
    # Resampling within each task keeps 4 values of each task in every resample, so the pooled IQM
    # of these two constant tasks never moves; a bootstrap across tasks would.
    iv = bootstrap_iqm([[0.0] * 4, [10.0] * 4])
    assert (iv.point, iv.low, iv.high) == (5.0, 5.0, 5.0)
    tasks = [[1.3, 5.1, 2.7, 3.3, 0.2], [40.6, 47.9, 41.4, 45.0, 44.1, 39.8]]
    assert bootstrap_iqm(tasks) == bootstrap_iqm(tasks)  # a fixed seed: the same table twice
    assert bootstrap_iqm(tasks, reps=500, seed=1) != bootstrap_iqm(tasks, reps=500)


def test_probability_of_improvement_by_hand():
    assert probability_of_improvement([[5.0, 6.0, 7.0]], [[1.0, 2.0]]) == 1.0  # separated
    assert probability_of_improvement([[1.0, 2.0]], [[5.0, 6.0, 7.0]]) == 0.0
    assert probability_of_improvement([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]) == 0.5  # identical samples
    assert probability_of_improvement([[2.0, 2.0]], [[2.0, 2.0]]) == 0.5  # all ties count one half
    # (1,2) 0, (1,3) 0, (2,2) 1/2, (2,3) 0: 0.5 / 4 pairs
    assert probability_of_improvement([[1.0, 2.0]], [[2.0, 3.0]]) == pytest.approx(0.125)
    # averaged over tasks: 1 on the first, 0.5 on the second
    assert probability_of_improvement([[3.0, 4.0], [1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0]]) == pytest.approx(0.75)


def test_probability_of_improvement_is_rliables_mann_whitney():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 6, size=(7, 3)).astype(float), rng.integers(0, 6, size=(5, 3)).astype(float)  # with ties
    expected = np.mean([stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater")[0] / (7 * 5) for t in range(3)])
    assert probability_of_improvement(x.T, y.T) == pytest.approx(expected)
    assert probability_of_improvement(x.T, y.T) + probability_of_improvement(y.T, x.T) == pytest.approx(1.0)


def test_probability_of_improvement_interval():
    separated = bootstrap_probability_of_improvement([[5.0, 6.0, 7.0]], [[1.0, 2.0, 3.0]])
    assert (separated.point, separated.low, separated.high) == (1.0, 1.0, 1.0)
    same = bootstrap_probability_of_improvement([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]])
    assert same.point == 0.5 and same.low < 0.5 < same.high and 0.0 <= same.low and same.high <= 1.0
    lone = bootstrap_probability_of_improvement([[1.0]], [[0.0]])
    assert lone.point == 1.0 and math.isnan(lone.low)


def test_curve_band():
    values = np.array([[-100.0, -80.0, -60.0], [-90.0, -80.0, -40.0], [-95.0, -80.0, -50.0]])  # 3 runs, 3 points
    centre, low, high = iqm_band(values)
    assert centre == pytest.approx([-95.0, -80.0, -50.0])  # 3 runs: the mean
    assert (low >= values.min(axis=0)).all() and (high <= values.max(axis=0)).all()
    assert (low <= centre).all() and (centre <= high).all()
    assert low[1] == high[1] == -80.0  # the runs agree at the second point
    assert high[0] - low[0] < 10.0 + 1e-9  # inside the 10-point range, where a t band of 3 seeds is ±12.4
    one = iqm_band(values[:1])
    assert one[0] == pytest.approx(values[0]) and np.isnan(one[1]).all()
