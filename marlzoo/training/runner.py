"""Collects whole episodes from a vector env with any algorithm's policy.

One policy call per step, batched over env copies x agents. Copies whose episode has ended wait
(masked) until every copy is done, so a collection is exactly one episode per copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from marlzoo.training.buffers import EpisodeBatch, row_writer
from marlzoo.envs.batched import BatchedEnv

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


@dataclass
class Collected:
    """One loop iteration's outcome: env steps taken, the episodes that finished, and learn() metrics."""

    steps: int
    returns: np.ndarray
    lengths: np.ndarray
    learn_metrics: list[dict[str, float]]


class EpisodeRunner:
    """Runs one episode in each copy of ``venv`` and records them into a reused :class:`EpisodeBatch`.

    The copies are seeded ``seed, seed + 1, ...`` at their first reset; later resets continue each
    copy's own random stream, so a run is reproducible from its seed.
    """

    def __init__(self, venv: BatchedEnv, seed: int) -> None:
        self.venv = venv
        self.spec = venv.spec
        self.batch = EpisodeBatch.zeros(self.spec, venv.n)
        self._rec = {name: row_writer(getattr(self.batch, name)) for name in
                     ("obs", "state", "avail", "alive", "actions", "reward", "terminated", "filled")}
        self._seeds: list[int | None] = [seed + i for i in range(venv.n)]
        self._obs = torch.from_numpy(venv.obs)
        self._avail = torch.from_numpy(venv.avail)

    def state_dict(self) -> dict[str, Any]:
        """The seeds still to come and every env copy's state (see :meth:`VectorEnv.state_dict`)."""
        return {"seeds": list(self._seeds), "venv": self.venv.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seeds = list(state["seeds"])
        self.venv.load_state_dict(state["venv"])

    def _record_observation(self, t: int) -> None:
        rec, venv = self._rec, self.venv
        rec["obs"][:, t] = venv.obs
        rec["state"][:, t] = venv.state
        rec["avail"][:, t] = venv.avail
        rec["alive"][:, t] = venv.alive

    @torch.no_grad()
    def run(self, algo: "Algorithm", *, explore: bool, t_env: int, reset: bool = True) -> tuple[EpisodeBatch, EpisodeStats]:
        """One episode per copy. Returns the recorded batch (reused: copy it to keep it) and stats.
        ``reset=False``: the caller has just reset every copy itself."""
        venv, rec, n = self.venv, self._rec, self.venv.n
        if reset:
            venv.reset(self._seeds)
            self._seeds = [None] * n
        rec["filled"].fill(False)
        rec["terminated"].fill(False)
        rec["reward"].fill(0.0)
        self._record_observation(0)
        hidden = algo.init_hidden(n)
        active = np.ones(n, dtype=bool)
        returns = np.zeros(n, dtype=np.float64)
        lengths = np.zeros(n, dtype=np.int64)
        for t in range(self.spec.episode_limit):
            actions, hidden = algo.act(self._obs, self._avail, hidden, explore=explore, t_env=t_env)
            actions = actions.numpy()
            venv.step(actions, active)
            reward = np.where(active, venv.reward, 0.0)
            rec["actions"][:, t] = actions
            rec["filled"][:, t] = active
            rec["reward"][:, t] = reward
            rec["terminated"][:, t] = venv.terminated & active
            self._record_observation(t + 1)
            returns += reward
            lengths += active
            active &= ~(venv.terminated | venv.truncated)
            if not active.any():
                break
        return self.batch, EpisodeStats(returns, lengths)

    def evaluate(self, algo: "Algorithm", episodes: int) -> np.ndarray:
        """Returns of ``episodes`` greedy episodes (run in rounds of one episode per copy)."""
        returns: list[float] = []
        while len(returns) < episodes:
            _, stats = self.run(algo, explore=False, t_env=0)
            returns.extend(stats.returns.tolist())
        return np.asarray(returns[:episodes])


class BatchedEvaluation:
    """The greedy episodes :meth:`EpisodeRunner.evaluate` plays in ``rounds`` rounds on ``slots``
    copies, played at once on ``venv``'s ``slots * rounds`` copies, with the same returns.

    Copy ``r * slots + i`` stands for slot ``i`` in round ``r``: it is seeded as slot ``i`` is, and
    reset once more for each earlier round, so each of its episodes starts where that round's would.
    This suits a backend whose copies cost little (``env.backend=vectorised``), where 100 episodes
    cost one batched episode instead of ``rounds``.
    """

    def __init__(self, venv: BatchedEnv, seed: int, slots: int, rounds: int) -> None:
        if venv.n != slots * rounds:
            raise ValueError(f"{venv.n} copies cannot hold {rounds} rounds of {slots}")
        self.runner = EpisodeRunner(venv, seed)
        self.slots, self.rounds = slots, rounds
        self._round = np.arange(venv.n) // slots
        self._seeds: list[int | None] = [seed + j % slots for j in range(venv.n)]

    def state_dict(self) -> dict[str, Any]:
        """The seeds still to come and every copy's state, as :meth:`EpisodeRunner.state_dict`."""
        return {"seeds": list(self._seeds), "venv": self.runner.venv.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seeds = list(state["seeds"])
        self.runner.venv.load_state_dict(state["venv"])

    def evaluate(self, algo: "Algorithm", episodes: int) -> np.ndarray:
        """Returns of ``episodes`` (at most ``slots * rounds``) greedy episodes, in EpisodeRunner's order."""
        if episodes > self.slots * self.rounds:
            raise ValueError(f"{episodes} episodes do not fit {self.rounds} rounds of {self.slots}")
        venv = self.runner.venv
        first = self._seeds[0] is not None
        venv.reset(self._seeds)  # every copy, then each the resets the rounds before its own take
        self._seeds = [None] * venv.n
        for r in range(1, self.rounds):
            venv.reset_where(self._round >= r if first else np.ones(venv.n, dtype=bool))
        _, stats = self.runner.run(algo, explore=False, t_env=0, reset=False)
        return stats.returns[:episodes].copy()
