"""Epsilon-greedy action selection over available actions, with a linear anneal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LinearSchedule:
    """Goes linearly from ``start`` to ``finish`` over ``steps`` env steps, then stays at ``finish``."""

    start: float
    finish: float
    steps: int

    def __call__(self, t: int) -> float:
        if t >= self.steps:
            return self.finish
        frac = max(t, 0) / self.steps
        return self.start + frac * (self.finish - self.start)


def masked_argmax(values: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Index of the largest value among available actions (last dim)."""
    return values.masked_fill(~avail, float("-inf")).argmax(dim=-1)


def exploration_rng() -> np.random.Generator:
    """A numpy generator for exploration, seeded from torch's global generator (so from the run's seed)."""
    return np.random.default_rng(int(torch.randint(2**62, (1,)).item()))


def epsilon_greedy(q: np.ndarray, avail: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Greedy actions from ``q [..., n_actions]``; with probability ``epsilon`` a uniformly random
    available action instead. Never returns an unavailable action.

    numpy, not torch: acting runs once per env step on a few dozen rows, where each torch op's
    dispatch (10-20 us) would cost more than the arithmetic.
    """
    greedy = np.where(avail, q, -np.inf).argmax(axis=-1)
    if epsilon <= 0.0:
        return greedy
    # The argmax of i.i.d. uniform scores over the available actions is a uniform choice among them.
    scores = rng.random(avail.shape)
    scores[~avail] = -1.0
    explore = rng.random(greedy.shape) < epsilon
    return np.where(explore, scores.argmax(axis=-1), greedy)
