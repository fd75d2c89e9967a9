"""The algorithm plugin contract: two typed bases, and the check that a class honours them.

An algorithm is a class built from ``(spec, config, device)``. It acts on a batch of observations
(decentralised: agent i's action depends only on its own observation and history), learns, and
saves and loads its state as tensors, numbers and strings. It subclasses one of two bases, and the
trainer picks the loop from that base:

``ReplayAlgorithm``
    learns from a replay buffer of whole episodes. Each iteration the loop collects one episode per
    env copy, inserts them into :meth:`~ReplayAlgorithm.make_buffer`'s buffer, and calls
    ``learn(buffer, t_env, n_updates)``, where ``n_updates`` is what the update schedule allows:
    :attr:`~ReplayAlgorithm.updates_per_episode` times the episodes collected. The default ``learn``
    samples ``batch_size`` episodes for each update and hands them to :meth:`~ReplayAlgorithm.update`.

``RolloutAlgorithm``
    learns on-policy from fixed-length rollouts of every env copy (episodes reset as they end and
    run on across rollouts). Each iteration the loop fills :meth:`~RolloutAlgorithm.make_buffer`'s
    :class:`~marlzoo.training.rollouts.RolloutBuffer` by calling :meth:`~RolloutAlgorithm.rollout_step`
    once per step and :meth:`~RolloutAlgorithm.value` where it needs a bootstrap, then calls
    ``learn(buffer, t_env)`` once.

A class that leaves one of its base's abstract methods out is refused when it is registered or
loaded, with one line naming the methods. Register it under a name in the ``marlzoo.algos``
entry-point group, or with :func:`marlzoo.register_algo` in a notebook.
"""

from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import torch

from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError
from marlzoo.learning.distributions import ActionBounds
from marlzoo.learning.qtable import ValueTable
from marlzoo.training.buffers import EpisodeBatch, EpisodeBuffer
from marlzoo.training.rollouts import PolicyStep, RolloutBuffer

__all__ = ["Algorithm", "NoConfig", "PolicyStep", "ReplayAlgorithm", "RolloutAlgorithm", "check_algorithm_class"]


@dataclass
class NoConfig:
    """The config of an algorithm that has no hyperparameters."""


class Algorithm(ABC):
    """What every algorithm has, whichever base it learns through.

    Class attributes a subclass sets:
      ``Config``        a dataclass of its hyperparameters: the ``algo:`` section of the config
      ``action_kinds``  which action spaces it handles: ``"discrete"``, ``"continuous"``
    """

    Config: ClassVar[type] = NoConfig
    action_kinds: ClassVar[tuple[str, ...]] = ("discrete",)

    def __init__(self, spec: EnvSpec, config: Any, device: str | torch.device = "cpu") -> None:
        self.spec = spec
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def check_spec(cls, spec: EnvSpec, name: str) -> None:
        """Raise :class:`UserError` if this algorithm cannot run on ``spec``: actions of a kind it
        does not handle, or Box actions without finite bounds (every Box head maps into them)."""
        if spec.action_kind not in cls.action_kinds:
            raise UserError(
                f"algorithm '{name}' needs {' or '.join(cls.action_kinds)} actions, but env '{spec.env_id}' "
                f"has {spec.action_kind} actions; pick an algorithm that supports them (`marlzoo list`)"
            )
        ActionBounds.check(spec, name)

    def init_hidden(self, batch: int) -> Any:
        """Recurrent state for ``batch`` env copies at the start of their episodes (None if stateless)."""
        return None

    @abstractmethod
    def act(
        self, obs: torch.Tensor, avail: torch.Tensor, hidden: Any, *, explore: bool, t_env: int
    ) -> tuple[torch.Tensor, Any]:
        """Actions for ``obs [B, n_agents, *obs_shape]`` and ``avail [B, n_agents, n_actions]``.

        Returns ``(actions, hidden)``: actions ``[B, n_agents]`` (long) for discrete envs,
        ``[B, n_agents, action_dim]`` (float, inside the bounds) for continuous ones.
        ``explore=False`` means greedy evaluation.
        """

    def log_info(self, t_env: int) -> dict[str, float]:
        """Extra scalars for the log at ``t_env`` (for example ``epsilon``)."""
        return {}

    def value_table(self, obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor) -> ValueTable | None:
        """Optional: the learned action values at one state, for ``marlzoo eval --qtable``.

        ``obs [n_agents, obs_dim]``, ``state [state_dim]``, ``avail [n_agents, n_actions]``. A value-based
        algorithm returns a :class:`~marlzoo.learning.qtable.ValueTable` (each agent's Q_i, and Q_tot for
        every joint action if it learns one); the default, None, means the algorithm has no action values.
        """
        return None

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume or evaluate: tensors, numbers, strings, and dicts of them."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class ReplayAlgorithm(Algorithm):
    """Learns from a replay buffer of whole episodes (value-based algorithms, MADDPG, ...).

    Implement :meth:`update`; override :meth:`observe` to see each episode once as it is stored, :meth:`learn` only to learn other than from uniformly
    sampled batches (tabular IQL learns online from the newest episodes), :meth:`make_buffer` for
    another store, and :attr:`updates_per_episode` for another schedule.
    """

    @property
    def updates_per_episode(self) -> Fraction:
        """Updates the loop asks for per episode collected (1: one update per episode)."""
        return Fraction(1)

    @property
    def batch_size(self) -> int:
        """Episodes per update: ``config.batch_size``."""
        return _config_value(self, "batch_size", "learn")

    def make_buffer(self) -> EpisodeBuffer:
        """The store the loop inserts episodes into: ``config.buffer_size`` episodes, circular."""
        return EpisodeBuffer(self.spec, _config_value(self, "buffer_size", "make_buffer"), self.device,
                             on_insert=self.observe)

    def observe(self, episodes: EpisodeBatch) -> None:
        """Called with every batch of episodes as it enters the buffer :meth:`make_buffer` made,
        before any update samples it; nothing by default (reward statistics may count it)."""

    def learn(self, buffer: EpisodeBuffer, t_env: int, n_updates: int) -> list[dict[str, float]]:
        """Make ``n_updates`` updates, each on ``batch_size`` episodes sampled uniformly, once the
        buffer holds that many. Returns each update's metrics (``loss/*``)."""
        return [self.update(buffer.sample(self.batch_size), t_env)
                for _ in range(n_updates) if buffer.can_sample(self.batch_size)]

    @abstractmethod
    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """One gradient update on ``batch``; returns its metrics, named ``loss/*``."""


class RolloutAlgorithm(Algorithm):
    """Learns on-policy from fixed-length rollouts (MAPPO, IPPO, ...); see the module docstring.

    Buffer shapes are in :mod:`marlzoo.training.rollouts`. ``hidden`` is whatever :meth:`init_hidden`
    returns (None for feed-forward nets); the runner zeroes a copy's rows where its episode restarts.
    """

    @property
    def rollout_length(self) -> int:
        """Steps of every env copy per rollout: ``config.rollout_length``."""
        return _config_value(self, "rollout_length", "make_buffer")

    def make_buffer(self) -> RolloutBuffer:
        return RolloutBuffer(self.spec, self.rollout_length, self.device)

    @abstractmethod
    def rollout_step(self, obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor, hidden: Any,
                     t_env: int) -> PolicyStep:
        """Act for one step of every copy while collecting: ``obs [B, n, *obs_shape]``,
        ``state [B, S]``, ``avail [B, n, n_actions]``. Returns the env's actions, what the buffer
        keeps, their log-probabilities, the critic's values ``[B, n]`` and the next hidden state."""

    @abstractmethod
    def value(self, obs: torch.Tensor, state: torch.Tensor, hidden: Any) -> torch.Tensor:
        """The critic's value ``[B, n]`` of these observations after ``hidden``, in return units."""

    @abstractmethod
    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        """Learn from the rollout in ``buffer`` (``t_env`` counts its steps); returns ``loss/*`` metrics."""


BASES = (ReplayAlgorithm, RolloutAlgorithm)


def _config_value(algo: Algorithm, key: str, method: str) -> Any:
    """A setting the base reads from the algorithm's config, or a UserError that says how to supply it."""
    try:
        return getattr(algo.config, key)
    except AttributeError:
        raise UserError(f"{type(algo).__name__}.Config has no '{key}', which {type(algo).__mro__[1].__name__}."
                        f"{method} reads; add the field or override {method}") from None


_ADAPTED: dict[type, type] = {}


def _legacy(cls: type[Algorithm], name: str) -> type[Algorithm]:
    """A class written against marlzoo 0.1's single ``Algorithm`` contract, as one of the two bases.

    0.1's ``buffer = "episodes"`` algorithms learned with ``learn(buffer, t_env)``, called once per
    episode collected: that is one ``learn`` per update here. ``buffer = "rollouts"`` had today's hooks.
    """
    kind = getattr(cls, "buffer", "episodes")
    base = {"episodes": ReplayAlgorithm, "rollouts": RolloutAlgorithm}.get(kind)
    if base is None:
        raise UserError(f"algorithm '{name}' ({cls.__module__}.{cls.__qualname__}) declares buffer '{kind}'; "
                        "subclass marlzoo.ReplayAlgorithm or marlzoo.RolloutAlgorithm instead")
    warnings.warn(
        f"algorithm '{name}' subclasses marlzoo.Algorithm with buffer = '{kind}'; subclass marlzoo.{base.__name__} "
        "instead (the old contract goes in marlzoo 0.3)", DeprecationWarning, stacklevel=3,
    )
    body: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    if base is ReplayAlgorithm:
        old_learn = cls.learn

        def learn(self: Any, buffer: Any, t_env: int, n_updates: int) -> list[dict[str, float]]:
            return [old_learn(self, buffer, t_env) for _ in range(n_updates)]

        body["learn"] = learn
        body["update"] = lambda self, batch, t_env: {}  # never called: learn above is 0.1's
        if not hasattr(cls, "make_buffer"):  # 0.1's default store
            body["make_buffer"] = lambda self: EpisodeBuffer(self.spec, getattr(self.config, "buffer_size", 5000),
                                                             self.device)
    return type(cls.__name__, (cls, base), body)


def check_algorithm_class(cls: Any, name: str) -> type[Algorithm]:
    """``cls`` as a registered algorithm: a subclass of one base with every hook, or a UserError.

    A 0.1-style subclass of :class:`Algorithm` alone is adapted (with a DeprecationWarning).
    """
    where = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise UserError(f"algorithm '{name}' ({where}) is not a subclass of marlzoo.ReplayAlgorithm or "
                        "marlzoo.RolloutAlgorithm")
    if not issubclass(cls, BASES):
        if cls not in _ADAPTED:
            _ADAPTED[cls] = _legacy(cls, name)
        cls = _ADAPTED[cls]
    if inspect.isabstract(cls):
        base = next(b for b in BASES if issubclass(cls, b))
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise UserError(f"algorithm '{name}' ({where}) does not implement {missing}, which marlzoo.{base.__name__} "
                        "requires; add the missing methods")
    return cls
