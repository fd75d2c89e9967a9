"""The PettingZoo adapter: any ParallelEnv or AECEnv as fixed-shape arrays.

Per step the adapter writes, in place:
  obs    [n_agents, *obs_shape]  ``obs_shape`` is ``(obs_dim,)``, or ``(C, H, W)`` for images (channel-first,
                                 raw pixels scaled to [0, 1]); zero-padded; zeros for agents that have left
  state  [state_dim]             env.state(), or the concatenated observations
  avail  [n_agents, n_actions]   from ``action_mask`` (in a Dict observation or in ``infos``), else ones;
                                 padded actions are unavailable; a departed agent may only take action 0
                                 (the no-op, in a turn-based game), which is never sent to the env
  alive  [n_agents]              whether the agent is still in the episode
and returns the team reward (sum, or mean, over the agents' rewards), terminated, truncated.

Three ways of running an env, chosen when the adapter is built:
  parallel       a ParallelEnv (SuperSuit-wrapped or not): one step is one joint action.
  parallelised   an AECEnv whose metadata says ``is_parallelizable``: run through ``aec_to_parallel``.
  turn-based     any other AECEnv (Hanabi, ...): one step is one turn. Only the agent whose turn it is
                 acts; every other agent may only take the extra no-op action ``spec.noop_action``,
                 which is never sent to the env. The team reward of a step is the sum (or mean) of
                 ``env.rewards`` after that turn, so a round of turns adds up exactly what the agents'
                 own cumulative rewards collect, with no reward counted twice or lost.
How each agent's spaces become rows of these arrays is decided once, in :mod:`marlzoo.envs.spaces`.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import AECEnv
from pettingzoo.utils.conversions import aec_to_parallel

from marlzoo.envs.direct_step import direct_step
from marlzoo.envs.spaces import ActionCodec, ObsCodec, action_codec, image_layout, observation_codec
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

_LIMIT_ATTRIBUTES = ("max_cycles", "max_steps", "max_episode_steps", "episode_limit")
_STATE_UNAVAILABLE = (NotImplementedError, AttributeError)


def _package_of(env: Any) -> tuple[str, str]:
    """The distribution that defines the env's class, and its installed version."""
    module = type(getattr(env, "unwrapped", env)).__module__.split(".")[0]
    try:
        return module, importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return module, "unknown"


def _prepare(env: Any, env_id: str) -> tuple[Any, bool]:
    """The env to run and whether it is turn-based (an AECEnv that cannot run in parallel)."""
    if isinstance(env, AECEnv):
        if env.metadata.get("is_parallelizable", False):
            return aec_to_parallel(env), False
        return env, True
    if isinstance(env, gymnasium.Env):
        raise UserError(
            f"env '{env_id}' is a single-agent Gymnasium env ({type(env).__name__}); marlzoo needs a PettingZoo "
            "ParallelEnv or AECEnv with possible_agents (the factory must return a PettingZoo env)"
        )
    if not (hasattr(env, "step") and hasattr(env, "reset") and hasattr(env, "possible_agents")):
        raise UserError(
            f"env '{env_id}' is a {type(env).__name__}, not a PettingZoo ParallelEnv or AECEnv; "
            "the factory must return a PettingZoo env"
        )
    return env, False


class PettingZooAdapter:
    """Wraps one PettingZoo env and presents it with the fixed shapes of its :class:`EnvSpec`.

    ``episode_limit`` counts adapter steps (turns, for a turn-based game); when it is read from the
    env's ``max_cycles`` instead, a turn-based game gets ``max_cycles * n_agents`` turns.
    """

    def __init__(
        self,
        env: Any,
        env_id: str,
        episode_limit: int | None = None,
        reward_aggregation: str = "sum",
        state: str = "auto",
    ) -> None:
        if reward_aggregation not in ("sum", "mean"):
            raise UserError(f"env.reward_aggregation must be 'sum' or 'mean', not '{reward_aggregation}'")
        if state not in ("auto", "env", "concat_obs"):
            raise UserError(f"env.state must be 'auto', 'env' or 'concat_obs', not '{state}'")
        self.env_id = env_id
        self.env, self.turn_based = _prepare(env, env_id)
        self._names = list(self.env.possible_agents)
        if not self._names:
            raise UserError(f"env '{env_id}' has no agents (possible_agents is empty)")
        self._index = {name: i for i, name in enumerate(self._names)}
        self._mean_reward = reward_aggregation == "mean"
        n = len(self._names)

        self._obs_codecs: list[ObsCodec] = [
            observation_codec(self.env.observation_space(a), env_id, a) for a in self._names
        ]
        self._act_codecs: list[ActionCodec] = [action_codec(self.env.action_space(a), env_id, a) for a in self._names]
        obs_shape = self._common_obs_shape()
        kind = self._action_kind()
        self._discrete = kind == "discrete"
        action_sizes = tuple(c.size for c in self._act_codecs)
        n_actions = max(action_sizes)
        self._noop = n_actions if self.turn_based and self._discrete else 0
        if self.turn_based and not self._discrete:
            raise UserError(
                f"env '{env_id}' is a turn-based AECEnv with continuous actions; marlzoo runs turn-based games "
                "with discrete actions only (an AECEnv whose metadata says is_parallelizable=True runs in parallel)"
            )
        if self.turn_based:
            n_actions += 1

        self.obs = np.zeros((n, *obs_shape), dtype=np.float32)
        self.avail = np.zeros((n, n_actions if self._discrete else 1), dtype=bool)
        self.alive = np.zeros(n, dtype=bool)
        self._static_avail = np.zeros_like(self.avail)
        for i, size in enumerate(action_sizes):
            self._static_avail[i, : size if self._discrete else 1] = True
        self._waiting_avail = np.zeros(self.avail.shape[1], dtype=bool)
        self._waiting_avail[self._noop] = True
        self._plain_actions = all(c.plain for c in self._act_codecs)
        self._starts = [getattr(c, "start", 0) for c in self._act_codecs]

        notes = self._describe_codecs()
        self._use_env_state = state != "concat_obs" and self._env_has_state(state)
        state_dim = self._probe_state_dim(n * int(np.prod(obs_shape)), state, notes)
        self.state = np.zeros(state_dim, dtype=np.float32)

        limit = episode_limit or self._find_limit()
        if self.turn_based:
            notes.append(f"turn-based: one agent acts per step, the others take the no-op action {self._noop}")
        package, version = _package_of(self.env)
        self.spec = EnvSpec(
            env_id=env_id,
            agents=tuple(self._names),
            obs_shape=obs_shape,
            state_dim=state_dim,
            action_kind=kind,
            n_actions=n_actions if self._discrete else max(action_sizes),
            episode_limit=limit,
            reward_aggregation=reward_aggregation,
            env_package=package,
            env_version=version,
            state_source="env.state()" if self._use_env_state else "concatenated observations",
            obs_sizes=tuple(c.size for c in self._obs_codecs),
            action_sizes=action_sizes,
            action_low=tuple(c.low for c in self._act_codecs) if not self._discrete else None,
            action_high=tuple(c.high for c in self._act_codecs) if not self._discrete else None,
            turn_based=self.turn_based,
            noop_action=self._noop if self.turn_based else None,
            transforms=tuple(notes),
        )
        self.t = 0
        self._episode_seeds: np.random.Generator | None = None
        # PettingZoo's AEC-to-parallel wrapper stepped without its waste, where that is exact (direct_step).
        direct = None if self.turn_based else direct_step(self.env)
        self.steps_directly = direct is not None
        self._env_step = direct or self.env.step

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

    def _find_limit(self) -> int:
        holders = (self.env, getattr(self.env, "unwrapped", None), getattr(self.env, "aec_env", None))
        for holder in holders:
            for attr in _LIMIT_ATTRIBUTES:
                value = getattr(holder, attr, None) if holder is not None else None
                if isinstance(value, int) and value > 0:
                    return value * len(self._names) if self.turn_based else value
        raise UserError(
            f"env '{self.env_id}' does not say how long its episodes last; set env.episode_limit=N"
            + (" (counted in turns)" if self.turn_based else "")
        )

    # ----------------------------------------------------------------- arrays
    def bind(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray, alive: np.ndarray) -> None:
        """Write into these arrays from now on (views into a vector env's batch)."""
        self.obs, self.state, self.avail, self.alive = obs, state, avail, alive

    def _bad_observation(self, name: Any, value: Any, exc: Exception) -> UserError:
        if name not in self._index:
            return UserError(
                f"env '{self.env_id}' returned agent '{name}', which is not in possible_agents {self._names}; "
                "marlzoo needs every agent listed in possible_agents from the start"
            )
        space = self.env.observation_space(name)
        return UserError(
            f"env '{self.env_id}', agent '{name}': an observation of shape {np.shape(value)} does not fit its "
            f"observation space {space} ({type(exc).__name__}: {exc}); the env breaks its own space"
        )

    def _write_agent(self, i: int, value: Any, info_mask: Any) -> None:
        """Agent ``i``'s observation and, if it has one, its action mask."""
        codec = self._obs_codecs[i]
        if codec.plain:
            self.obs[i, : codec.size] = value
            mask = None
        else:
            mask = codec.write(value, self.obs[i])
        if mask is None:
            mask = info_mask
        if mask is not None and self._discrete:
            self.avail[i, : self._act_codecs[i].size] = self._act_codecs[i].mask(mask)

    def _write(self, observations: dict, infos: dict, present: Any) -> None:
        """Arrays of the state just reached; ``present`` names the agents that exist in it."""
        obs, avail, alive, index = self.obs, self.avail, self.alive, self._index
        obs.fill(0.0)
        avail[:] = self._static_avail
        alive.fill(False)
        name = value = None
        try:
            for name in present:
                alive[index[name]] = True
            for name, value in observations.items():
                i = index[name]
                if alive[i]:
                    info = infos.get(name) if infos else None
                    self._write_agent(i, value, info.get("action_mask") if info else None)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise self._bad_observation(name, value, exc) from None
        for i in np.flatnonzero(~alive):
            avail[i] = self._waiting_avail  # a departed agent's only action, never sent to the env
        self._write_state()

    def _write_turn(self) -> None:
        """Turn-based: every live agent's own view; only the agent whose turn it is has real actions."""
        env, obs, avail, alive, index = self.env, self.obs, self.avail, self.alive, self._index
        obs.fill(0.0)
        avail[:] = self._waiting_avail
        alive.fill(False)
        # Each attribute read goes through every wrapper's __getattr__: read each once.
        acting, terms, truncs, observe = env.agent_selection, env.terminations, env.truncations, env.observe
        name = value = None
        try:
            for name in env.agents:
                if terms.get(name, False) or truncs.get(name, False):
                    continue
                i = index[name]
                alive[i] = True
                value = observe(name)
                if name == acting:
                    avail[i] = self._static_avail[i]
                    info = env.infos.get(name)
                    self._write_agent(i, value, info.get("action_mask") if info else None)
                else:
                    codec = self._obs_codecs[i]
                    if codec.plain:
                        obs[i, : codec.size] = value
                    else:
                        codec.write(value, obs[i])
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise self._bad_observation(name, value, exc) from None
        self._write_state()

    def _write_state(self) -> None:
        if self._use_env_state:
            self.state[:] = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        else:
            self.state[:] = self.obs.reshape(-1)

    # ----------------------------------------------------------------- API
    def reset(self, seed: int | None = None) -> None:
        """Start an episode. A turn-based game reset without a seed gets one drawn from the last seed
        given: OpenSpiel games (Hanabi, through shimmy) draw fresh entropy on ``reset(seed=None)``,
        which would make a seeded run impossible to repeat."""
        self.t = 0
        if self.turn_based:
            if seed is not None:
                self._episode_seeds = np.random.default_rng(seed)
            elif self._episode_seeds is not None:
                seed = int(self._episode_seeds.integers(2**31 - 1))
            self.env.reset(seed=seed)
            self._skip_departed()
            self._write_turn()
            return
        result = self.env.reset(seed=seed)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)):
            raise UserError(
                f"env '{self.env_id}': reset() returned {type(result).__name__}, not (observations, infos); "
                "marlzoo needs the PettingZoo >= 1.24 API (reset returns dicts of observations and infos)"
            )
        self._write(*result, self.env.agents)

    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Step with one action per agent (departed or waiting agents' actions are ignored).

        Returns (team reward, terminated, truncated). The episode is over when either is true.
        """
        if self.turn_based:
            return self._step_turn(actions)
        live = self.env.agents
        index = self._index
        if self._plain_actions and self._discrete:
            starts = self._starts
            act = {n: int(actions[index[n]]) + starts[index[n]] for n in live}
        else:
            codecs = self._act_codecs
            act = {n: codecs[index[n]].decode(actions[index[n]]) for n in live}
        result = self._env_step(act)
        try:
            observations, rewards, terms, truncs, infos = result
        except (TypeError, ValueError):
            raise UserError(
                f"env '{self.env_id}': step() returned {type(result).__name__} of "
                f"{len(result) if hasattr(result, '__len__') else '?'} items, not (observations, rewards, terminations, truncations, infos); marlzoo needs the "
                "PettingZoo >= 1.24 API"
            ) from None
        self.t += 1
        remaining = self.env.agents
        # An agent cut off by a time limit still exists in the state it reached: it keeps its
        # observation and stays alive there, so learners bootstrap from it. Only termination ends it.
        present = remaining or [n for n in act if truncs.get(n, False) and not terms.get(n, False)]
        self._write(observations, infos, present)
        reward = float(sum(rewards.values()))
        if self._mean_reward and rewards:
            reward /= len(rewards)
        if remaining and self.t < self.spec.episode_limit:
            return reward, False, False
        if remaining:  # our own time limit cut the episode short
            return reward, False, True
        all_terminated = all(terms.get(n, False) for n in act) and not any(truncs.get(n, False) for n in act)
        return reward, all_terminated, not all_terminated

    def _step_turn(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        env = self.env
        agent = env.agent_selection
        i = self._index[agent]
        action = int(actions[i])
        if action >= self._act_codecs[i].size:
            raise UserError(
                f"env '{self.env_id}': agent '{agent}' took action {action} on its turn, but only actions below "
                f"{self._act_codecs[i].size} exist (action {self._noop} is the no-op of agents that wait)"
            )
        env.step(self._act_codecs[i].decode(action))
        self.t += 1
        rewards = env.rewards
        reward = float(sum(rewards.values()))
        if self._mean_reward and rewards:
            reward /= len(rewards)
        truncs = env.truncations
        truncated_any = any(truncs.get(n, False) for n in env.agents)
        reward += self._skip_departed()
        self._write_turn()
        if env.agents and self.t < self.spec.episode_limit:
            return reward, False, False
        if env.agents:
            return reward, False, True
        return reward, not truncated_any, truncated_any

    def _skip_departed(self) -> float:
        """Step the agents that have finished (``step(None)``) until a live agent's turn comes or
        none is left; returns the team reward those steps produced (normally 0)."""
        env, reward = self.env, 0.0
        while env.agents:
            selected = env.agent_selection
            if not (env.terminations[selected] or env.truncations[selected]):
                break
            env.step(None)
            rewards = env.rewards
            if rewards:
                r = float(sum(rewards.values()))
                reward += r / len(rewards) if self._mean_reward else r
        return reward

    def close(self) -> None:
        self.env.close()
