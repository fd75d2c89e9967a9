"""IQL: tabular independent Q-learning (Tan, 1993).

Each agent keeps its own table Q_i(o_i, a_i) over the observations it has seen, hashed from their
exact values, and learns from the team reward as if the other agents were part of the environment:

    Q_i(o, a) <- Q_i(o, a) + alpha * [r + gamma * max_{a' available} Q_i(o', a') - Q_i(o, a)]

(no bootstrap after a terminal step, or after the step at which the agent leaves). Transitions are
applied one at a time, in the order they happened, right after each collection: it learns online,
without replay. Acting is epsilon-greedy over the available actions; an observation never seen
before has all-zero values.

A table only makes sense when observations repeat: the matrix games, grid worlds, small discrete
envs. Continuous observations never repeat, so once an agent has seen more than ``max_states``
distinct observations IQL stops with an error that points to IDQN, its deep counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from marlzoo.algorithm import ReplayAlgorithm
from marlzoo.training.buffers import EpisodeBatch
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError
from marlzoo.learning.exploration import LinearSchedule, epsilon_greedy, exploration_rng
from marlzoo.learning.qtable import ValueTable


@dataclass
class IQLConfig:
    alpha: float = 0.1  # step size of the tabular update
    gamma: float = 0.99
    epsilon_start: float = 1.0
    epsilon_finish: float = 0.05
    epsilon_anneal_steps: int = 50_000
    max_states: int = 10_000  # distinct observations per agent before IQL gives up (use idqn instead)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], not {self.alpha}")
        if self.max_states < 1:
            raise ValueError(f"max_states must be at least 1, not {self.max_states}")


class ObservationTable:
    """One agent's Q table: a row of action values per distinct observation, grown on demand."""

    def __init__(self, obs_dim: int, n_actions: int, max_states: int) -> None:
        self.max_states = max_states
        self.rows: dict[bytes, int] = {}
        self.obs = np.zeros((16, obs_dim), dtype=np.float32)
        self.q = np.zeros((16, n_actions), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.rows)

    def find(self, obs: np.ndarray) -> int:
        """The row of ``obs`` (float32), or -1 if it was never seen."""
        return self.rows.get(obs.tobytes(), -1)

    def row(self, obs: np.ndarray) -> int:
        """The row of ``obs``, added (with zero values) if new."""
        key = obs.tobytes()
        index = self.rows.get(key)
        if index is not None:
            return index
        index = len(self.rows)
        if index >= self.max_states:
            raise OverflowError
        if index == len(self.q):
            self.obs = np.concatenate([self.obs, np.zeros_like(self.obs)])
            self.q = np.concatenate([self.q, np.zeros_like(self.q)])
        self.obs[index] = obs
        self.rows[key] = index
        return index

    def state_dict(self) -> dict[str, torch.Tensor]:
        n = len(self.rows)
        return {"obs": torch.from_numpy(self.obs[:n].copy()), "q": torch.from_numpy(self.q[:n].copy())}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        obs, q = state["obs"].numpy().astype(np.float32), state["q"].numpy().astype(np.float64)
        self.rows = {}
        self.obs = np.zeros((max(16, len(obs)), obs.shape[1]), dtype=np.float32)
        self.q = np.zeros((len(self.obs), q.shape[1]), dtype=np.float64)
        for i in range(len(obs)):
            self.q[self.row(obs[i])] = q[i]


class LatestEpisodes:
    """The episodes of the last collection, and nothing older: IQL learns online, without replay."""

    def __init__(self) -> None:
        self.batch: EpisodeBatch | None = None

    def insert(self, batch: EpisodeBatch) -> None:
        self.batch = EpisodeBatch(**{name: value.clone() for name, value in batch.tensors().items()})

    def newest(self, n: int) -> EpisodeBatch:
        """The last ``n`` episodes inserted, in the order they were collected."""
        if self.batch is None or n > self.batch.size:
            raise ValueError(f"IQL was asked to learn from {n} new episodes, but the last collection holds "
                             f"{0 if self.batch is None else self.batch.size}")
        return self.batch.select(torch.arange(self.batch.size - n, self.batch.size))


class IQL(ReplayAlgorithm):
    """One Q table per agent over its own observations, updated by one-step Q-learning."""

    Config = IQLConfig
    action_kinds = ("discrete",)

    def __init__(self, spec: EnvSpec, config: IQLConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.tables = [ObservationTable(spec.obs_dim, spec.n_actions, config.max_states) for _ in spec.agents]
        self.epsilon = LinearSchedule(config.epsilon_start, config.epsilon_finish, config.epsilon_anneal_steps)
        self.rng = exploration_rng()
        self.updates = 0

    def make_buffer(self) -> LatestEpisodes:
        return LatestEpisodes()

    def _row(self, agent: int, obs: np.ndarray) -> int:
        try:
            return self.tables[agent].row(obs)
        except OverflowError:
            raise UserError(
                f"iql: agent '{self.spec.agents[agent]}' has seen more than {self.config.max_states} distinct "
                f"observations on env '{self.spec.env_id}', too many for a table (continuous observations never "
                "repeat); use idqn, its deep counterpart, or raise algo.max_states"
            ) from None

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q values ``[..., n_agents, n_actions]`` for observations ``[..., n_agents, obs_dim]`` (0 if unseen)."""
        flat = obs.reshape(-1, self.spec.n_agents, self.spec.obs_dim).numpy()
        q = np.zeros((len(flat), self.spec.n_agents, self.spec.n_actions), dtype=np.float32)
        for i, table in enumerate(self.tables):
            for b in range(len(flat)):
                row = table.find(flat[b, i])
                if row >= 0:
                    q[b, i] = table.q[row]
        return torch.from_numpy(q).reshape(*obs.shape[:-1], self.spec.n_actions)

    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore: bool, t_env: int):
        epsilon = self.epsilon(t_env) if explore else 0.0
        actions = epsilon_greedy(self.values(obs).numpy(), avail.numpy(), epsilon, self.rng)
        return torch.from_numpy(actions), hidden

    def learn(self, buffer: LatestEpisodes, t_env: int, n_updates: int) -> list[dict[str, float]]:
        """One update per new episode: the ``n_updates`` newest episodes' transitions, in order, once."""
        return [self.update(buffer.newest(n_updates), t_env)]

    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """Apply every transition of ``batch``, episode by episode and step by step."""
        alpha, gamma = self.config.alpha, self.config.gamma
        obs, avail, alive = batch.obs.numpy(), batch.avail.numpy(), batch.alive.numpy()
        actions, reward = batch.actions.numpy(), batch.reward.numpy()
        terminated, filled = batch.terminated.numpy(), batch.filled.numpy()
        squared_errors = []
        for b in range(batch.size):
            for t in np.flatnonzero(filled[b]):
                for i, table in enumerate(self.tables):
                    if not alive[b, t, i]:
                        continue
                    target = float(reward[b, t])
                    if not terminated[b, t] and alive[b, t + 1, i]:
                        next_row = self._row(i, obs[b, t + 1, i])  # may grow table.q: index after
                        next_q = table.q[next_row]
                        target += gamma * float(next_q[avail[b, t + 1, i]].max())
                    row, a = self._row(i, obs[b, t, i]), actions[b, t, i]
                    error = target - table.q[row, a]
                    table.q[row, a] += alpha * error
                    squared_errors.append(error * error)
        self.updates += 1
        return {"loss/td": float(np.mean(squared_errors)) if squared_errors else 0.0}

    def log_info(self, t_env: int) -> dict[str, float]:
        return {"epsilon": self.epsilon(t_env), "table_states": float(max(len(t) for t in self.tables))}

    def value_table(self, obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor) -> ValueTable:
        """Each agent's Q_i at ``obs``; independent learners have no joint Q_tot."""
        return ValueTable(agent_q=self.values(obs), joint_q=None)

    def state_dict(self) -> dict[str, Any]:
        return {"tables": [t.state_dict() for t in self.tables], "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["tables"]) != len(self.tables):
            raise ValueError(f"the checkpoint has {len(state['tables'])} agents' tables, this env {len(self.tables)}")
        for table, saved in zip(self.tables, state["tables"]):
            table.load_state_dict(saved)
        self.updates = int(state["updates"])
