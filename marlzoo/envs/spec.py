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

    ``obs_shape`` is ``(obs_dim,)`` for vectors, or ``(C, H, W)`` for images: channel-first (as
    torch's convolutions take them), float32, raw 0..255 pixels scaled to [0, 1]. In a turn-based
    game (``turn_based``), ``noop_action`` is the extra last action that agents waiting for their
    turn take; it is never sent to the env. ``transforms`` says, in words, what the adapter did to
    the env's spaces (flattening, one-hot, image layout, ...).
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
    turn_based: bool = False
    noop_action: int | None = None
    transforms: tuple[str, ...] = ()

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
