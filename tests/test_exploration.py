"""Epsilon-greedy never picks an unavailable action; the schedule anneals linearly."""

from __future__ import annotations

import torch

from marlzoo.exploration import LinearSchedule, epsilon_greedy


def test_schedule_is_linear_then_flat():
    s = LinearSchedule(1.0, 0.05, 1000)
    assert s(0) == 1.0 and abs(s(500) - 0.525) < 1e-9 and s(1000) == 0.05 and s(10**6) == 0.05


def test_never_unavailable_and_uniform_when_fully_exploring():
    gen = torch.Generator().manual_seed(0)
    avail = torch.tensor([[True, False, True, False, True]]).expand(20000, 5)
    q = torch.zeros(20000, 5)
    q[:, 1] = 100.0  # the best action is unavailable
    actions = epsilon_greedy(q, avail, 1.0, gen)
    assert not (actions == 1).any() and not (actions == 3).any()
    counts = torch.bincount(actions, minlength=5).float() / 20000
    assert all(abs(counts[i] - 1 / 3) < 0.02 for i in (0, 2, 4))


def test_greedy_takes_best_available():
    q = torch.tensor([[1.0, 9.0, 3.0]])
    avail = torch.tensor([[True, False, True]])
    assert epsilon_greedy(q, avail, 0.0).item() == 2


def test_epsilon_fraction_explores():
    gen = torch.Generator().manual_seed(1)
    q = torch.tensor([[0.0, 1.0]]).expand(20000, 2)
    avail = torch.ones(20000, 2, dtype=torch.bool)
    actions = epsilon_greedy(q, avail, 0.3, gen)
    assert abs((actions == 0).float().mean().item() - 0.15) < 0.015
