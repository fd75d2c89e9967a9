"""EnvSpec: the fixed shapes and the metric contract of an environment, as every algorithm sees it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """What an algorithm is told about an environment.

    Shapes are per agent and already padded: every agent has ``obs_shape`` observations and
    ``n_actions`` actions (for ``action_kind == "continuous"``, ``n_actions`` is the action
    dimension). ``obs_sizes`` and ``action_sizes`` record each agent's size before padding.
    """

    env_id: str
    agents: tuple[str, ...]
    obs_shape: tuple[int, ...]
    state_dim: int
    action_kind: str  # "discrete" or "continuous"
    n_actions: int
    episode_limit: int
    reward_aggregation: str  # "sum" or "mean" over agents
    env_package: str
    env_version: str
    state_source: str  # "env.state()" or "concatenated observations"
    obs_sizes: tuple[int, ...]
    action_sizes: tuple[int, ...]
    action_low: tuple[tuple[float, ...], ...] | None = None
    action_high: tuple[tuple[float, ...], ...] | None = None

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation once flattened."""
        size = 1
        for d in self.obs_shape:
            size *= d
        return size

    @property
    def is_padded(self) -> bool:
        return len(set(self.obs_sizes)) > 1 or len(set(self.action_sizes)) > 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["n_agents"] = self.n_agents
        data["is_padded"] = self.is_padded
        return data
