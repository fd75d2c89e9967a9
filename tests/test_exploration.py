"""Epsilon-greedy never picks an unavailable action; the schedule anneals linearly."""

from __future__ import annotations

import numpy as np

from marlzoo.learning.exploration import LinearSchedule, epsilon_greedy


def test_schedule_is_linear_then_flat():
    s = LinearSchedule(1.0, 0.05, 1000)
    assert s(0) == 1.0 and abs(s(500) - 0.525) < 1e-9 and s(1000) == 0.05 and s(10**6) == 0.05


def test_never_unavailable_and_uniform_when_fully_exploring():
    rng = np.random.default_rng(0)
    avail = np.broadcast_to(np.array([True, False, True, False, True]), (20000, 5))
    q = np.zeros((20000, 5))
    q[:, 1] = 100.0  # the best action is unavailable
    actions = epsilon_greedy(q, avail, 1.0, rng)
    assert not (actions == 1).any() and not (actions == 3).any()
    counts = np.bincount(actions, minlength=5) / 20000
    assert all(abs(counts[i] - 1 / 3) < 0.02 for i in (0, 2, 4))


def test_greedy_takes_best_available():
    q = np.array([[1.0, 9.0, 3.0]])
    avail = np.array([[True, False, True]])
    assert epsilon_greedy(q, avail, 0.0, np.random.default_rng(0)).tolist() == [2]


def test_epsilon_fraction_explores():
    q = np.broadcast_to(np.array([0.0, 1.0]), (20000, 2))
    avail = np.ones((20000, 2), dtype=bool)
    actions = epsilon_greedy(q, avail, 0.3, np.random.default_rng(1))
    assert abs((actions == 0).mean() - 0.15) < 0.015
