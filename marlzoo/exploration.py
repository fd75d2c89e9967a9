"""Epsilon-greedy action selection over available actions, with a linear anneal."""

from __future__ import annotations

from dataclasses import dataclass

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


def epsilon_greedy(
    q: torch.Tensor, avail: torch.Tensor, epsilon: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Greedy actions from ``q [..., n_actions]``; with probability ``epsilon`` a uniformly random
    available action instead. Never returns an unavailable action."""
    greedy = masked_argmax(q, avail)
    if epsilon <= 0.0:
        return greedy
    # The argmax of i.i.d. uniform scores over the available actions is a uniform choice among them.
    scores = torch.rand(avail.shape, generator=generator).masked_fill_(~avail, -1.0)
    random = scores.argmax(dim=-1)
    explore = torch.rand(greedy.shape, generator=generator) < epsilon
    return torch.where(explore, random, greedy)
