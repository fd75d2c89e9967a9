"""One-step cooperative matrix games, as PettingZoo ParallelEnvs.

Every agent picks one action, all agents receive the same payoff ``payoff[u_1, ..., u_n]``, and the
episode ends. Observations and the state are constant, so the whole game is one state and its
joint-action values are a table that can be printed and compared with the payoff. These games are
the classic probes of what a value factorisation can represent:

* ``nonmonotonic`` (Son et al., 2019, the QTRAN paper): the optimum (0, 0) pays 8, but each of its
  actions pays -12 against anything else. Averaged over a partner's actions, action 0 looks worst,
  so additive (VDN) and monotonic (QMIX) factorisations rank a suboptimal joint action highest.
* ``climbing`` (Claus & Boutilier, 1998): the optimum (0, 0) pays 11, guarded by -30 penalties.
* ``penalty`` (Claus & Boutilier, 1998): two optima (0, 0) and (2, 2) pay 10; mixing them costs ``k``.

Set ``env.reward_aggregation: mean`` (configs/envs/<game>.yaml does) so the team reward is the
payoff itself rather than n times it.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

NONMONOTONIC = [[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]]
CLIMBING = [[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]]


def penalty_payoff(k: float = -100.0) -> list[list[float]]:
    """The penalty game's payoff: 10 on the diagonal's ends, 2 in the middle, ``k`` for miscoordination."""
    return [[10.0, 0.0, k], [0.0, 2.0, 0.0], [k, 0.0, 10.0]]


class MatrixGame(ParallelEnv):
    """A one-step game for ``payoff.ndim`` agents; agent i has ``payoff.shape[i]`` actions.

    Each agent observes the constant ``[1.0]``; ``state()`` is the constant ``[1.0]`` too. The
    reward of every agent is the payoff of the joint action; the episode terminates after one step.
    """

    metadata = {"name": "matrix_game_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, payoff: Sequence[Any], name: str = "matrix_game") -> None:
        self.payoff = np.asarray(payoff, dtype=np.float64)
        if self.payoff.ndim < 1 or self.payoff.size == 0:
            raise ValueError("payoff must be a non-empty array with one axis per agent")
        self.metadata = {**MatrixGame.metadata, "name": name}
        self.possible_agents = [f"agent_{i}" for i in range(self.payoff.ndim)]
        self.agents: list[str] = []
        self.max_cycles = 1  # the episode limit the adapter reads
        self.render_mode = None
        self._obs = np.ones(1, dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.payoff.shape[self.possible_agents.index(agent)])

    def state(self) -> np.ndarray:
        return self._obs.copy()

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        return {a: self._obs.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"every agent acts in a matrix game; no action for {missing}")
        joint = tuple(int(actions[a]) for a in self.agents)
        reward = float(self.payoff[joint])
        agents, self.agents = self.agents, []
        return (
            {a: self._obs.copy() for a in agents},
            {a: reward for a in agents},
            {a: True for a in agents},
            {a: False for a in agents},
            {a: {} for a in agents},
        )

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


def nonmonotonic() -> MatrixGame:
    """The QTRAN paper's non-monotonic game, ``[[8,-12,-12],[-12,0,0],[-12,0,0]]``."""
    return MatrixGame(NONMONOTONIC, "nonmonotonic")


def climbing() -> MatrixGame:
    """The climbing game, ``[[11,-30,0],[-30,7,6],[0,0,5]]``."""
    return MatrixGame(CLIMBING, "climbing")


def penalty(k: float = -100.0) -> MatrixGame:
    """The penalty game, ``[[10,0,k],[0,2,0],[k,0,10]]``; ``k <= 0`` is the miscoordination penalty."""
    return MatrixGame(penalty_payoff(k), "penalty")


def matrix_game(payoff: list) -> MatrixGame:
    """Any matrix game from a nested list (one axis per agent), e.g. ``env.kwargs.payoff``."""
    return MatrixGame(payoff)
