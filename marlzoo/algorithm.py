"""The algorithm plugin contract.

An algorithm is a class built from ``(spec, config, device)``. It says which buffer it learns from,
acts on a batch of observations (decentralised: agent i's action depends only on its own
observation and history), learns, and saves and loads its state. Register it under a name in the
``marlzoo.algos`` entry-point group, or with :func:`marlzoo.register_algo` in a notebook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from marlzoo.training.buffers import EpisodeBuffer
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError
from marlzoo.learning.qtable import ValueTable


@dataclass
class NoConfig:
    """The config of an algorithm that has no hyperparameters."""


class Algorithm(ABC):
    """Base class of every algorithm, built-in or plugin.

    Class attributes a subclass sets:
      ``Config``        a dataclass of its hyperparameters: the ``algo:`` section of the config
      ``buffer``        ``"episodes"``: the trainer stores whole episodes in :meth:`make_buffer`'s
                        buffer and calls :meth:`learn` once per episode collected;
                        ``"rollouts"``: fixed-length on-policy rollouts, one :meth:`learn` per
                        rollout; the algorithm also implements
                        :class:`marlzoo.training.rollouts.RolloutPolicy` (``rollout_step``, ``value``)
      ``action_kinds``  which action spaces it handles: ``"discrete"``, ``"continuous"``
      ``learns``        False for a fixed baseline policy (random play), whose ``learn`` does nothing
    """

    Config: ClassVar[type] = NoConfig
    buffer: ClassVar[str] = "episodes"
    action_kinds: ClassVar[tuple[str, ...]] = ("discrete",)
    learns: ClassVar[bool] = True

    def __init__(self, spec: EnvSpec, config: Any, device: str | torch.device = "cpu") -> None:
        self.spec = spec
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def check_spec(cls, spec: EnvSpec, name: str) -> None:
        """Raise :class:`UserError` if this algorithm cannot run on ``spec``."""
        if spec.action_kind not in cls.action_kinds:
            raise UserError(
                f"algorithm '{name}' needs {' or '.join(cls.action_kinds)} actions, but env '{spec.env_id}' "
                f"has {spec.action_kind} actions; pick an algorithm that supports them (`marlzoo list`)"
            )

    def make_buffer(self) -> Any:
        """The buffer the trainer fills for this algorithm (an :class:`EpisodeBuffer` by default)."""
        return EpisodeBuffer(self.spec, getattr(self.config, "buffer_size", 5000), self.device)

    def init_hidden(self, batch: int) -> Any:
        """Recurrent state for ``batch`` env copies at the start of their episodes (None if stateless)."""
        return None

    @abstractmethod
    def act(
        self, obs: torch.Tensor, avail: torch.Tensor, hidden: Any, *, explore: bool, t_env: int
    ) -> tuple[torch.Tensor, Any]:
        """Actions for ``obs [B, n_agents, obs_dim]`` and ``avail [B, n_agents, n_actions]``.

        Returns ``(actions, hidden)``: actions ``[B, n_agents]`` (long) for discrete envs,
        ``[B, n_agents, action_dim]`` (float, inside the bounds) for continuous ones.
        ``explore=False`` means greedy evaluation.
        """

    @abstractmethod
    def learn(self, buffer: Any, t_env: int) -> dict[str, float]:
        """One learning step; returns metrics named ``loss/*`` (empty if it did not learn yet)."""

    def log_info(self, t_env: int) -> dict[str, float]:
        """Extra scalars for the log at ``t_env`` (for example ``epsilon``)."""
        return {}

    def value_table(self, obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor) -> ValueTable | None:
        """Optional: the learned action values at one state, for ``marlzoo eval --qtable``.

        ``obs [n_agents, obs_dim]``, ``state [state_dim]``, ``avail [n_agents, n_actions]``. A value-based
        algorithm returns a :class:`~marlzoo.learning.qtable.ValueTable` (each agent's Q_i, and Q_tot for every
        joint action if it learns one); the default, None, means the algorithm has no action values.
        """
        return None

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume or evaluate: tensors, numbers, strings, and dicts of them."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
