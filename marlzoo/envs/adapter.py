"""The PettingZoo adapter: any ParallelEnv (or parallelizable AECEnv) as fixed-shape arrays.

Per step the adapter writes, in place:
  obs    [n_agents, *obs_shape]  zero-padded, zeros for agents that have left
  state  [state_dim]             env.state(), or the concatenated observations
  avail  [n_agents, n_actions]   from ``action_mask`` (dict obs or infos), else ones;
                                 padded actions are unavailable; a departed agent may only
                                 take action 0, which is never sent to the env
  alive  [n_agents]              whether the agent is still in ``env.agents``
and returns the team reward (sum, or mean, over the agents' rewards), terminated, truncated.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import aec_to_parallel

from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

_LIMIT_ATTRIBUTES = ("max_cycles", "max_steps", "max_episode_steps", "episode_limit")


def _package_of(env: Any) -> tuple[str, str]:
    """The distribution that defines the env's class, and its installed version."""
    module = type(getattr(env, "unwrapped", env)).__module__.split(".")[0]
    try:
        return module, importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return module, "unknown"


def _as_parallel(env: Any, env_id: str) -> ParallelEnv:
    if isinstance(env, AECEnv):
        if not env.metadata.get("is_parallelizable", False):
            raise UserError(
                f"env '{env_id}' is a turn-based AECEnv that PettingZoo cannot run in parallel; "
                "wrap it in a ParallelEnv yourself or pick an env whose metadata has is_parallelizable=True"
            )
        return aec_to_parallel(env)
    if not (hasattr(env, "step") and hasattr(env, "reset") and hasattr(env, "possible_agents")):
        raise UserError(
            f"env '{env_id}' is a {type(env).__name__}, not a PettingZoo ParallelEnv or AECEnv; "
            "the factory must return a PettingZoo env"
        )
    return env


class PettingZooAdapter:
    """Wraps one PettingZoo env and presents it with the fixed shapes of its :class:`EnvSpec`."""

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
        self.env = _as_parallel(env, env_id)
        self.env_id = env_id
        self._names = list(self.env.possible_agents)
        if not self._names:
            raise UserError(f"env '{env_id}' has no agents (possible_agents is empty)")
        self._index = {name: i for i, name in enumerate(self._names)}
        self._mean_reward = reward_aggregation == "mean"

        obs_spaces = [self._obs_space(n) for n in self._names]
        act_spaces = [self.env.action_space(n) for n in self._names]
        obs_sizes = tuple(int(np.prod(s.shape)) if isinstance(s, spaces.Box) else int(s.n) for s in obs_spaces)
        self._onehot_obs = [isinstance(s, spaces.Discrete) for s in obs_spaces]
        self._obs_sizes = obs_sizes
        kind, action_sizes, low, high = self._describe_actions(act_spaces)
        self._discrete = kind == "discrete"
        self._action_sizes = action_sizes
        self._action_start = [int(getattr(s, "start", 0)) for s in act_spaces]
        self._low = low
        self._high = high

        n, obs_dim, n_actions = len(self._names), max(obs_sizes), max(action_sizes)
        self.obs = np.zeros((n, obs_dim), dtype=np.float32)
        self.avail = np.zeros((n, n_actions if self._discrete else 1), dtype=bool)
        self.alive = np.zeros(n, dtype=bool)
        self._static_avail = np.zeros_like(self.avail)
        for i, size in enumerate(action_sizes):
            self._static_avail[i, : size if self._discrete else 1] = True

        if state not in ("auto", "env", "concat_obs"):
            raise UserError(f"env.state must be 'auto', 'env' or 'concat_obs', not '{state}'")
        self._use_env_state = state != "concat_obs" and self._env_has_state(state)
        state_dim = self._probe_state_dim(n * obs_dim)
        self.state = np.zeros(state_dim, dtype=np.float32)

        limit = episode_limit or self._find_limit()
        package, version = _package_of(self.env)
        self.spec = EnvSpec(
            env_id=env_id,
            agents=tuple(self._names),
            obs_shape=(obs_dim,),
            state_dim=state_dim,
            action_kind=kind,
            n_actions=n_actions,
            episode_limit=limit,
            reward_aggregation=reward_aggregation,
            env_package=package,
            env_version=version,
            state_source="env.state()" if self._use_env_state else "concatenated observations",
            obs_sizes=obs_sizes,
            action_sizes=action_sizes,
            action_low=low,
            action_high=high,
        )
        self.t = 0

    # ----------------------------------------------------------------- description
    def _obs_space(self, name: str) -> spaces.Space:
        space = self.env.observation_space(name)
        if isinstance(space, spaces.Dict) and "observation" in space.spaces:
            space = space.spaces["observation"]
        if isinstance(space, (spaces.Box, spaces.Discrete)):
            return space
        raise UserError(
            f"env '{self.env_id}', agent '{name}': observation space {space} is not supported; "
            "marlzoo takes Box or Discrete observations (or a Dict with 'observation' and 'action_mask')"
        )

    def _describe_actions(self, act_spaces: list[spaces.Space]):
        kinds = set()
        for name, space in zip(self._names, act_spaces):
            if isinstance(space, spaces.Discrete):
                kinds.add("discrete")
            elif isinstance(space, spaces.Box) and len(space.shape) == 1:
                kinds.add("continuous")
            else:
                raise UserError(
                    f"env '{self.env_id}', agent '{name}': action space {space} is not supported; "
                    "marlzoo takes Discrete or 1-D Box actions"
                )
        if len(kinds) > 1:
            raise UserError(
                f"env '{self.env_id}' mixes discrete and continuous agents; "
                "marlzoo needs every agent's actions to be of one kind"
            )
        kind = kinds.pop()
        if kind == "discrete":
            return kind, tuple(int(s.n) for s in act_spaces), None, None
        sizes = tuple(int(s.shape[0]) for s in act_spaces)
        low = tuple(tuple(float(x) for x in s.low) for s in act_spaces)
        high = tuple(tuple(float(x) for x in s.high) for s in act_spaces)
        return kind, sizes, low, high

    def _env_has_state(self, state: str) -> bool:
        has = callable(getattr(self.env, "state", None))
        if state == "env" and not has:
            raise UserError(f"env '{self.env_id}' has no state(); set env.state=concat_obs")
        return has

    def _probe_state_dim(self, concat_dim: int) -> int:
        if not self._use_env_state:
            return concat_dim
        self.env.reset(seed=0)
        try:
            return int(np.asarray(self.env.state(), dtype=np.float32).size)
        except (NotImplementedError, AttributeError):
            self._use_env_state = False
            return concat_dim

    def _find_limit(self) -> int:
        for holder in (self.env, getattr(self.env, "unwrapped", None), getattr(self.env, "aec_env", None)):
            for attr in _LIMIT_ATTRIBUTES:
                value = getattr(holder, attr, None) if holder is not None else None
                if isinstance(value, int) and value > 0:
                    return value
        raise UserError(
            f"env '{self.env_id}' does not say how long its episodes last; set env.episode_limit=N"
        )

    # ----------------------------------------------------------------- arrays
    def bind(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray, alive: np.ndarray) -> None:
        """Write into these arrays from now on (views into a vector env's batch)."""
        self.obs, self.state, self.avail, self.alive = obs, state, avail, alive

    def _write(self, observations: dict, infos: dict) -> None:
        obs, avail, alive = self.obs, self.avail, self.alive
        obs.fill(0.0)
        avail[:] = self._static_avail
        alive.fill(False)
        for name in self.env.agents:
            alive[self._index[name]] = True
        for name, value in observations.items():
            i = self._index[name]
            if not alive[i]:
                continue
            mask = None
            if isinstance(value, dict):
                mask = value.get("action_mask")
                value = value["observation"]
            if mask is None:
                mask = infos.get(name, {}).get("action_mask") if infos else None
            if self._onehot_obs[i]:
                obs[i, int(value)] = 1.0
            else:
                obs[i, : self._obs_sizes[i]] = np.asarray(value, dtype=np.float32).reshape(-1)
            if mask is not None and self._discrete:
                avail[i, : self._action_sizes[i]] = np.asarray(mask, dtype=bool)
        for i in np.flatnonzero(~alive):
            avail[i] = False
            avail[i, 0] = True  # a departed agent's only action, a no-op never sent to the env
        if self._use_env_state:
            self.state[:] = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        else:
            self.state[:] = obs.reshape(-1)

    # ----------------------------------------------------------------- API
    def reset(self, seed: int | None = None) -> None:
        observations, infos = self.env.reset(seed=seed)
        self.t = 0
        self._write(observations, infos)

    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Step with one action per agent (departed agents' actions are ignored).

        Returns (team reward, terminated, truncated). The episode is over when either is true.
        """
        live = self.env.agents
        if self._discrete:
            act = {n: int(actions[self._index[n]]) + self._action_start[self._index[n]] for n in live}
        else:
            act = {n: actions[self._index[n], : self._action_sizes[self._index[n]]] for n in live}
        observations, rewards, terms, truncs, infos = self.env.step(act)
        self.t += 1
        self._write(observations, infos)
        reward = float(sum(rewards.values()))
        if self._mean_reward and rewards:
            reward /= len(rewards)
        if self.env.agents and self.t < self.spec.episode_limit:
            return reward, False, False
        all_terminated = all(terms.get(n, False) for n in act) and not any(truncs.get(n, False) for n in act)
        if self.env.agents:  # our own time limit cut the episode short
            return reward, False, True
        return reward, all_terminated, not all_terminated

    def close(self) -> None:
        self.env.close()
