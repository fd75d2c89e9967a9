"""Collects whole episodes from a vector env with any algorithm's policy.

One policy call per step, batched over env copies x agents. Copies whose episode has ended wait
(masked) until every copy is done, so a collection is exactly one episode per copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from marlzoo.buffers import EpisodeBatch
from marlzoo.envs.vector import VectorEnv

if TYPE_CHECKING:
    from marlzoo.algorithm import Algorithm


@dataclass
class EpisodeStats:
    """Per-copy results of one collection: the return (sum of team rewards) and the length."""

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())


class EpisodeRunner:
    """Runs one episode in each copy of ``venv`` and records them into a reused :class:`EpisodeBatch`.

    The copies are seeded ``seed, seed + 1, ...`` at their first reset; later resets continue each
    copy's own random stream, so a run is reproducible from its seed.
    """

    def __init__(self, venv: VectorEnv, seed: int) -> None:
        self.venv = venv
        self.spec = venv.spec
        self.batch = EpisodeBatch.zeros(self.spec, venv.n)
        self._seeds: list[int | None] = [seed + i for i in range(venv.n)]
        self._obs = torch.from_numpy(venv.obs)
        self._state = torch.from_numpy(venv.state)
        self._avail = torch.from_numpy(venv.avail)
        self._alive = torch.from_numpy(venv.alive)

    def _record_observation(self, t: int) -> None:
        b = self.batch
        b.obs[:, t] = self._obs
        b.state[:, t] = self._state
        b.avail[:, t] = self._avail
        b.alive[:, t] = self._alive

    @torch.no_grad()
    def run(self, algo: "Algorithm", *, explore: bool, t_env: int) -> tuple[EpisodeBatch, EpisodeStats]:
        """One episode per copy. Returns the recorded batch (reused: copy it to keep it) and stats."""
        venv, b, n = self.venv, self.batch, self.venv.n
        venv.reset(self._seeds)
        self._seeds = [None] * n
        b.filled.zero_()
        b.terminated.zero_()
        b.reward.zero_()
        self._record_observation(0)
        hidden = algo.init_hidden(n)
        active = np.ones(n, dtype=bool)
        returns = np.zeros(n, dtype=np.float64)
        lengths = np.zeros(n, dtype=np.int64)
        for t in range(self.spec.episode_limit):
            actions, hidden = algo.act(self._obs, self._avail, hidden, explore=explore, t_env=t_env)
            venv.step(actions.numpy(), active)
            reward = np.where(active, venv.reward, 0.0)
            b.actions[:, t] = actions
            b.filled[:, t] = torch.from_numpy(active)
            b.reward[:, t] = torch.from_numpy(reward.astype(np.float32))
            b.terminated[:, t] = torch.from_numpy(venv.terminated & active)
            self._record_observation(t + 1)
            returns += reward
            lengths += active
            active &= ~(venv.terminated | venv.truncated)
            if not active.any():
                break
        return b, EpisodeStats(returns, lengths)

    def evaluate(self, algo: "Algorithm", episodes: int) -> np.ndarray:
        """Returns of ``episodes`` greedy episodes (run in rounds of one episode per copy)."""
        returns: list[float] = []
        while len(returns) < episodes:
            _, stats = self.run(algo, explore=False, t_env=0)
            returns.extend(stats.returns.tolist())
        return np.asarray(returns[:episodes])
