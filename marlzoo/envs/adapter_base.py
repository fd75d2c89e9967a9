"""What every adapter shares: :class:`Adapter`, and :func:`build_spec`.

:class:`Adapter` sets an env up once (its agents, their space codecs from :mod:`marlzoo.envs.spaces`,
the padded arrays, the static action masks, the state source, the episode limit) and writes one
agent's observation and mask into those arrays. How an env is stepped, and which agents' rows are
written after a step, is up to the subclasses: :class:`~marlzoo.envs.parallel.ParallelAdapter`
and :class:`~marlzoo.envs.turns.TurnBasedAdapter` for PettingZoo envs (PettingZoo's API is the
default of the hooks that name the agents and their spaces), and
:class:`~marlzoo.envs.gymnasium_ma.GymnasiumMultiAgentAdapter` for Gymnasium envs with Tuple spaces.
:func:`marlzoo.envs.adapter.make_adapter` picks one of them for an env.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Collection, Sequence

import numpy as np
from pettingzoo import AECEnv

from marlzoo.envs.spaces import ActionCodec, ObsCodec, action_codec, image_layout, observation_codec
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

LIMIT_ATTRIBUTES = ("max_cycles", "max_steps", "max_episode_steps", "episode_limit")
_STATE_UNAVAILABLE = (NotImplementedError, AttributeError)
# What a malformed observation (or an agent outside possible_agents) raises while it is written.
BAD_OBSERVATION = (KeyError, ValueError, TypeError, IndexError)


def runs_turn_based(env: Any) -> bool:
    """Whether ``env`` is an AECEnv that PettingZoo cannot run in parallel (its metadata does not say
    ``is_parallelizable``), so that it is run one turn per step."""
    return isinstance(env, AECEnv) and not env.metadata.get("is_parallelizable", False)


def package_of(env: Any) -> tuple[str, str]:
    """The distribution that defines the env's class, and its installed version."""
    module = type(getattr(env, "unwrapped", env)).__module__.split(".")[0]
    try:
        return module, importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return module, "unknown"


def find_limit(env: Any, attributes: Sequence[str] = LIMIT_ATTRIBUTES) -> int | None:
    """The first positive integer among ``attributes`` of the env, its ``unwrapped`` env or the AEC
    env under a conversion; None if there is none."""
    for holder in (env, getattr(env, "unwrapped", None), getattr(env, "aec_env", None)):
        for attr in attributes:
            value = getattr(holder, attr, None) if holder is not None else None
            if isinstance(value, int) and value > 0:
                return value
    return None


def declared_limit(env: Any, env_id: str, unit: str = "") -> int:
    """The episode length ``env`` declares in one of :data:`LIMIT_ATTRIBUTES` (see :func:`find_limit`);
    ``unit`` ends the error when it declares none."""
    limit = find_limit(env)
    if limit is None:
        raise UserError(f"env '{env_id}' does not say how long its episodes last; set env.episode_limit=N{unit}")
    return limit


def check_env_options(reward_aggregation: str, state: str) -> None:
    """A UserError for an ``env.reward_aggregation`` or an ``env.state`` that marlzoo does not know."""
    if reward_aggregation not in ("sum", "mean"):
        raise UserError(f"env.reward_aggregation must be 'sum' or 'mean', not '{reward_aggregation}'")
    if state not in ("auto", "env", "concat_obs"):
        raise UserError(f"env.state must be 'auto', 'env' or 'concat_obs', not '{state}'")


def build_spec(
    env: Any,
    env_id: str,
    agents: Sequence[str],
    obs_codecs: Sequence[ObsCodec],
    act_codecs: Sequence[ActionCodec],
    *,
    obs_shape: tuple[int, ...],
    state_dim: int,
    n_actions: int,
    episode_limit: int,
    reward_aggregation: str,
    uses_env_state: bool,
    turn_based: bool,
    noop_action: int | None,
    transforms: Sequence[str],
    package: tuple[str, str] | None = None,
) -> EnvSpec:
    """The :class:`EnvSpec` of an adapter over ``env``, whose agents' spaces became these codecs.

    ``n_actions`` is the padded action count (with the no-op, in a turn-based game), or the action
    dimension of continuous agents; ``noop_action`` is the waiting agents' action, or None.
    ``package`` is the env's (distribution, version), read from ``env`` (:func:`package_of`) if None.
    """
    package, version = package or package_of(env)
    kind = act_codecs[0].kind
    discrete = kind == "discrete"
    return EnvSpec(
        env_id=env_id,
        agents=tuple(agents),
        obs_shape=obs_shape,
        state_dim=state_dim,
        action_kind=kind,
        n_actions=n_actions,
        episode_limit=episode_limit,
        reward_aggregation=reward_aggregation,
        env_package=package,
        env_version=version,
        state_source="env.state()" if uses_env_state else "concatenated observations",
        obs_sizes=tuple(c.size for c in obs_codecs),
        action_sizes=tuple(c.size for c in act_codecs),
        action_low=None if discrete else tuple(c.low for c in act_codecs),
        action_high=None if discrete else tuple(c.high for c in act_codecs),
        turn_based=turn_based,
        noop_action=noop_action,
        transforms=tuple(transforms),
    )


class Adapter(ABC):
    """One multi-agent env presented with the fixed shapes of its :class:`EnvSpec`.

    Built with the arguments of :func:`~marlzoo.envs.adapter.PettingZooAdapter` (which says what they
    mean), by that function, by make_adapter or by a subclass directly.
    Attributes: ``spec``; the arrays ``obs``, ``state``, ``avail`` and ``alive``, rewritten in place
    by :meth:`reset` and :meth:`step` (see :mod:`marlzoo.envs.adapter` for their shapes); ``t``, the
    steps taken in this episode; ``turn_based``; ``steps_directly``, whether the env is stepped
    around PettingZoo's conversion wrapper (:mod:`marlzoo.envs.direct_step`); ``env``, the env as run.
    """

    turn_based: ClassVar[bool]
    steps_directly: bool

    def __init__(
        self,
        env: Any,
        env_id: str,
        episode_limit: int | None = None,
        reward_aggregation: str = "sum",
        state: str = "auto",
        scale_obs: bool = False,
    ) -> None:
        check_env_options(reward_aggregation, state)
        self.env_id = env_id
        self.env = self._prepare(env)
        self._names = self._agent_names()
        if not self._names:
            raise UserError(f"env '{env_id}' has no agents (possible_agents is empty)")
        self._index = {name: i for i, name in enumerate(self._names)}
        self._mean_reward = reward_aggregation == "mean"
        n = len(self._names)

        self._obs_codecs: list[ObsCodec] = [
            observation_codec(self._observation_space(a), env_id, a, scale_obs) for a in self._names
        ]
        self._act_codecs: list[ActionCodec] = [action_codec(self._action_space(a), env_id, a) for a in self._names]
        obs_shape = self._common_obs_shape()
        self._discrete = self._action_kind() == "discrete"
        action_sizes = tuple(c.size for c in self._act_codecs)
        widest = max(action_sizes)
        noop = self._noop_action(widest)
        n_actions = widest if noop is None else widest + 1
        # The only action of an agent that cannot act: the no-op of a waiting agent, else action 0.
        self._noop = 0 if noop is None else noop

        self.obs = np.zeros((n, *obs_shape), dtype=np.float32)
        self.avail = np.zeros((n, n_actions if self._discrete else 1), dtype=bool)
        self.alive = np.zeros(n, dtype=bool)
        self._static_avail = np.zeros_like(self.avail)
        for i, size in enumerate(action_sizes):
            self._static_avail[i, : size if self._discrete else 1] = True
        self._waiting_avail = np.zeros(self.avail.shape[1], dtype=bool)
        self._waiting_avail[self._noop] = True

        notes = self._describe_codecs()
        self._use_env_state = state != "concat_obs" and self._env_has_state(state)
        state_dim = self._probe_state_dim(n * int(np.prod(obs_shape)), state, notes)
        self.state = np.zeros(state_dim, dtype=np.float32)

        limit = episode_limit or self._find_limit()
        self.spec = build_spec(
            self.env, env_id, self._names, self._obs_codecs, self._act_codecs,
            obs_shape=obs_shape,
            state_dim=state_dim,
            n_actions=n_actions,
            episode_limit=limit,
            reward_aggregation=reward_aggregation,
            uses_env_state=self._use_env_state,
            turn_based=self.turn_based,
            noop_action=noop,
            transforms=notes + self._mode_notes(),
        )
        self.t = 0
        self._setup_stepping()

    # ----------------------------------------------------------------- what the subclasses decide
    @abstractmethod
    def _prepare(self, env: Any) -> Any:
        """The env to run; raises a UserError saying why where this adapter cannot run ``env``."""

    def _agent_names(self) -> list[Any]:
        """The env's agents, in the order of the arrays' rows."""
        return list(self.env.possible_agents)

    def _observation_space(self, name: Any) -> Any:
        """Agent ``name``'s observation space."""
        return self.env.observation_space(name)

    def _action_space(self, name: Any) -> Any:
        """Agent ``name``'s action space."""
        return self.env.action_space(name)

    def _noop_action(self, widest: int) -> int | None:
        """The extra action, after every agent's own ``widest`` at most, that a waiting agent takes;
        None where agents never wait."""
        return None

    def _mode_notes(self) -> list[str]:
        """What the spec's ``transforms`` says about how the env is run, after the notes on its spaces."""
        return []

    def _find_limit(self) -> int:
        """The episode limit, in adapter steps, that the env declares."""
        return declared_limit(self.env, self.env_id)

    @abstractmethod
    def _setup_stepping(self) -> None:
        """What :meth:`reset` and :meth:`step` need beyond the shared setup (the last step of ``__init__``)."""

    # ----------------------------------------------------------------- description
    def _common_obs_shape(self) -> tuple[int, ...]:
        codecs = self._obs_codecs
        images = [c.image for c in codecs]
        if not any(images):
            return (max(c.size for c in codecs),)
        shapes = {c.shape for c in codecs}
        if all(images) and len(shapes) == 1:
            return codecs[0].shape
        detail = ", ".join(f"'{a}': {c.shape}" for a, c in zip(self._names, codecs))
        raise UserError(
            f"env '{self.env_id}': image observations must have one shape for every agent, but they are {detail}; "
            "give them one size with supersuit.resize_v1 (or pad them with supersuit.pad_observations_v0)"
        )

    def _action_kind(self) -> str:
        kinds = {c.kind for c in self._act_codecs}
        if len(kinds) > 1:
            detail = ", ".join(f"'{a}': {c.kind}" for a, c in zip(self._names, self._act_codecs))
            raise UserError(
                f"env '{self.env_id}' mixes discrete and continuous agents ({detail}); marlzoo needs every agent's "
                "actions to be of one kind: discretise the Box agents or make the Discrete ones continuous "
                "with supersuit.action_lambda_v1"
            )
        return kinds.pop()

    def _describe_codecs(self) -> list[str]:
        notes = []
        for codecs, what in ((self._obs_codecs, "observation"), (self._act_codecs, "action")):
            distinct = {c.note for c in codecs if c.note}
            if len(distinct) == 1 and all(c.note for c in codecs):
                notes.append(f"{what}: {distinct.pop()}")
            else:
                notes.extend(f"{what} of '{a}': {c.note}" for a, c in zip(self._names, codecs) if c.note)
        return notes

    def _env_has_state(self, state: str) -> bool:
        has = callable(getattr(self.env, "state", None))
        if state == "env" and not has:
            raise UserError(f"env '{self.env_id}' has no state(); set env.state=concat_obs")
        return has

    def _probe_state_dim(self, concat_dim: int, state: str, notes: list[str]) -> int:
        if not self._use_env_state:
            return concat_dim
        self.env.reset(seed=0)
        try:
            value = np.asarray(self.env.state(), dtype=np.float32)
        except _STATE_UNAVAILABLE:
            if state == "env":
                raise UserError(f"env '{self.env_id}' does not implement state(); set env.state=concat_obs") from None
            self._use_env_state = False
            return concat_dim
        if state == "auto" and image_layout(value.shape) is not None:
            # A screen as the state would give a mixer or critic hundreds of thousands of inputs.
            notes.append(f"state: env.state() is an image {value.shape}, so the state is the concatenated "
                         "observations (set env.state=env to use it anyway)")
            self._use_env_state = False
            return concat_dim
        return int(value.size)

    # ----------------------------------------------------------------- arrays
    def bind(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray, alive: np.ndarray) -> None:
        """Write into these arrays from now on (views into a vector env's batch)."""
        self.obs, self.state, self.avail, self.alive = obs, state, avail, alive

    def _bad_observation(self, name: Any, value: Any, exc: Exception) -> UserError:
        """The error for agent ``name``'s observation ``value``, which raised ``exc`` when written."""
        if name not in self._index:
            return UserError(
                f"env '{self.env_id}' returned agent '{name}', which is not in possible_agents {self._names}; "
                "marlzoo needs every agent listed in possible_agents from the start"
            )
        space = self._observation_space(name)
        return UserError(
            f"env '{self.env_id}', agent '{name}': an observation of shape {np.shape(value)} does not fit its "
            f"observation space {space} ({type(exc).__name__}: {exc}); the env breaks its own space"
        )

    def _write_obs(self, i: int, value: Any) -> Any:
        """Agent ``i``'s observation; returns the action mask the observation carried, if any."""
        codec = self._obs_codecs[i]
        if codec.plain:
            self.obs[i, : codec.size] = value
            return None
        return codec.write(value, self.obs[i])

    def _write_agent(self, i: int, value: Any, info_mask: Any) -> None:
        """Agent ``i``'s observation and, if it has one, its action mask."""
        mask = self._write_obs(i, value)
        if mask is None:
            mask = info_mask
        if mask is not None and self._discrete:
            self.avail[i, : self._act_codecs[i].size] = self._act_codecs[i].mask(mask)

    def _write_state(self) -> None:
        if self._use_env_state:
            self.state[:] = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        else:
            self.state[:] = self.obs.reshape(-1)

    def _team_reward(self, rewards: Collection[float]) -> float:
        """The sum, or the mean, of the agents' ``rewards``."""
        reward = float(sum(rewards))
        if self._mean_reward and rewards:
            reward /= len(rewards)
        return reward

    # ----------------------------------------------------------------- API
    @abstractmethod
    def reset(self, seed: int | None = None) -> None:
        """Start an episode and write its first arrays."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Step with one action per agent (``actions [n_agents]``, or ``[n_agents, n_actions]`` for
        continuous agents) and write the arrays of the state reached.

        Returns (team reward, terminated, truncated). The episode is over when either is true.
        """

    def render(self) -> Any:
        """What the env draws of its current state: ``env.render()``. For an env built with
        ``render_mode="rgb_array"``, an ``(H, W, 3)`` uint8 image."""
        return self.env.render()

    def close(self) -> None:
        """Close the env."""
        self.env.close()
