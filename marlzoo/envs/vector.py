"""Many copies of one env, stepped in one process, with their arrays stacked for one policy call."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from marlzoo.envs.adapter import PettingZooAdapter


class VectorEnv:
    """``n`` adapters whose per-step arrays are rows of shared batch arrays.

    ``obs [n, n_agents, obs_dim]``, ``state [n, state_dim]``, ``avail [n, n_agents, n_actions]``,
    ``alive [n, n_agents]``, ``reward [n]``, ``terminated [n]``, ``truncated [n]``.
    """

    def __init__(self, make_env: Callable[[], PettingZooAdapter], n: int) -> None:
        self.envs = [make_env() for _ in range(n)]
        self.spec = self.envs[0].spec
        first = self.envs[0]
        self.obs = np.zeros((n, *first.obs.shape), dtype=np.float32)
        self.state = np.zeros((n, *first.state.shape), dtype=np.float32)
        self.avail = np.zeros((n, *first.avail.shape), dtype=bool)
        self.alive = np.zeros((n, *first.alive.shape), dtype=bool)
        self.reward = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)
        for i, env in enumerate(self.envs):
            env.bind(self.obs[i], self.state[i], self.avail[i], self.alive[i])

    @property
    def n(self) -> int:
        return len(self.envs)

    def reset(self, seeds: Sequence[int | None]) -> None:
        for env, seed in zip(self.envs, seeds):
            env.reset(seed=seed)
        self.reward.fill(0.0)
        self.terminated.fill(False)
        self.truncated.fill(False)

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true; the others keep their last arrays."""
        for i in np.flatnonzero(active):
            self.reward[i], self.terminated[i], self.truncated[i] = self.envs[i].step(actions[i])

    def close(self) -> None:
        for env in self.envs:
            env.close()
