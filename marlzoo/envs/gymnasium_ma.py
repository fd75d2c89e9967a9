"""The adapter for a Gymnasium multi-agent env: one ``gymnasium.Env`` whose observation and action
spaces are Tuples with one entry per agent, as Level-Based Foraging (``lbforaging``) and the
multi-robot warehouse (``rware``) are, and as EPyMARL runs them.

Such an env takes a tuple of actions, one per agent, and returns a tuple of observations, a list of
rewards (or one shared reward), and ``terminated``/``truncated`` as one flag for the team or a list
with one per agent. The agents are named ``agent_0``, ``agent_1``, ... in Tuple order. There is no
``state()``: the state is the concatenated observations.

Time limits. Both packages end an episode at their own time limit by raising ``terminated``, not
``truncated`` (LBF after ``max_episode_steps``, RWARE after ``max_steps``). The adapter reads that
limit from the env and reports an episode that ends there as truncated, so learners bootstrap from
its last state; an episode that ends earlier (all food collected) is terminated. The adapter's own
``episode_limit`` may be shorter than the env's limit but not longer, since the env would end the
episode first. An episode whose real end falls on its very last step is counted as truncated.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from marlzoo.envs.adapter_base import BAD_OBSERVATION, LIMIT_ATTRIBUTES, Adapter, find_limit
from marlzoo.errors import UserError

# lbforaging keeps its limit in ``_max_episode_steps``, as Gymnasium's own TimeLimit wrapper does.
ENV_LIMIT_ATTRIBUTES = (*LIMIT_ATTRIBUTES, "_max_episode_steps")


def is_multiagent_gymnasium(env: Any) -> bool:
    """Whether ``env`` is a Gymnasium env with one Tuple entry per agent in its action space."""
    return isinstance(env, gymnasium.Env) and isinstance(getattr(env, "action_space", None), spaces.Tuple)


def own_limit(env: gymnasium.Env) -> int | None:
    """The shortest time limit the env itself enforces: a TimeLimit wrapper's (``env.spec``), or
    the one its unwrapped env keeps in one of :data:`ENV_LIMIT_ATTRIBUTES`; None if it has none."""
    spec = getattr(env, "spec", None)
    found = [getattr(spec, "max_episode_steps", None), find_limit(env, ENV_LIMIT_ATTRIBUTES)]
    limits = [v for v in found if isinstance(v, int) and v > 0]
    return min(limits) if limits else None


class GymnasiumMultiAgentAdapter(Adapter):
    """Runs a Gymnasium env with Tuple observation and action spaces, one joint action per step.

    The arguments are those of :func:`~marlzoo.envs.adapter.PettingZooAdapter`, except that
    ``state`` may not be ``"env"``. ``episode_limit`` defaults to the env's own time limit.
    An agent whose own ``terminated`` flag is up (a per-agent list) is zeroed and may only take
    action 0, which is still sent to the env, since it takes every agent's action at every step.
    """

    turn_based = False

    def _prepare(self, env: Any) -> Any:
        if not is_multiagent_gymnasium(env):
            raise UserError(
                f"env '{self.env_id}' ({type(env).__name__}) is not a Gymnasium multi-agent env: marlzoo needs a "
                "gymnasium.Env whose action_space is a Tuple with one space per agent (as lbforaging and rware have)"
            )
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(obs_space, spaces.Tuple) or len(obs_space.spaces) != len(act_space.spaces):
            raise UserError(
                f"env '{self.env_id}': observation space {obs_space} does not match action space {act_space}; a "
                "Gymnasium multi-agent env has a Tuple of one observation space and one action space per agent"
            )
        return env

    def _agent_names(self) -> list[str]:
        return [f"agent_{i}" for i in range(len(self.env.action_space.spaces))]

    def _observation_space(self, name: Any) -> Any:
        return self.env.observation_space.spaces[self._index[name]]

    def _action_space(self, name: Any) -> Any:
        return self.env.action_space.spaces[self._index[name]]

    def _env_has_state(self, state: str) -> bool:
        if state == "env":
            raise UserError(f"env '{self.env_id}' is a Gymnasium multi-agent env, which has no state(); "
                            "set env.state=concat_obs (or auto)")
        return False

    def _mode_notes(self) -> list[str]:
        return ["Gymnasium multi-agent env: Tuple spaces, one entry per agent"]

    def _find_limit(self) -> int:
        limit = own_limit(self.env)
        if limit is None:
            raise UserError(f"env '{self.env_id}' does not say how long its episodes last; set env.episode_limit=N")
        return limit

    def _setup_stepping(self) -> None:
        self.steps_directly = False
        self._plain_actions = self._discrete and all(c.plain for c in self._act_codecs)
        self._starts = [getattr(c, "start", 0) for c in self._act_codecs]
        env_limit = own_limit(self.env)
        if env_limit is not None and self.spec.episode_limit > env_limit:
            raise UserError(
                f"env '{self.env_id}' ends its episodes itself after {env_limit} steps, so env.episode_limit="
                f"{self.spec.episode_limit} cannot be reached; set env.episode_limit to at most {env_limit}, "
                "or raise the env's own limit through env.kwargs where it takes one (rware: max_steps)"
            )
        self._env_limit = env_limit if env_limit is not None else math.inf

    # ----------------------------------------------------------------- arrays
    def _agent_values(self, values: Any, what: str) -> list[Any]:
        """``values`` (one per agent) as a list; one UserError line if there is not one per agent."""
        n = len(self._names)
        if isinstance(values, (tuple, list, np.ndarray)) and len(values) == n:
            return list(values)
        got = f"{len(values)} entries" if hasattr(values, "__len__") else type(values).__name__
        raise UserError(f"env '{self.env_id}' returned {what} with {got}, not one per agent ({n}); a Gymnasium "
                        "multi-agent env returns a tuple with one entry per agent")

    def _flags(self, value: Any, what: str) -> np.ndarray:
        """A ``terminated``/``truncated`` flag for the team, or one per agent, as ``[n_agents]`` bools."""
        if np.isscalar(value):
            return np.full(len(self._names), bool(value))
        return np.asarray(self._agent_values(value, what), dtype=bool)

    def _write(self, observations: Any, alive: np.ndarray) -> None:
        values = self._agent_values(observations, "observations")
        self.obs.fill(0.0)
        self.avail[:] = self._static_avail
        self.alive[:] = alive
        i = value = None
        try:
            for i in np.flatnonzero(alive):
                value = values[i]
                self._write_agent(i, value, None)
        except BAD_OBSERVATION as exc:
            raise self._bad_observation(self._names[i], value, exc) from None
        self.avail[~alive] = self._waiting_avail
        self._write_state()

    # ----------------------------------------------------------------- API
    def reset(self, seed: int | None = None) -> None:
        """Start an episode (``env.reset(seed=seed)``) and write its first arrays."""
        self.t = 0
        result = self.env.reset(seed=seed)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise UserError(f"env '{self.env_id}': reset() returned {type(result).__name__}, not (observations, "
                            "info); marlzoo needs the Gymnasium >= 0.26 API")
        self._write(result[0], np.ones(len(self._names), dtype=bool))

    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Step with one action per agent. Returns (team reward, terminated, truncated)."""
        if self._plain_actions:
            act = tuple(int(a) + s for a, s in zip(actions, self._starts))
        else:
            act = tuple(c.decode(a) for c, a in zip(self._act_codecs, actions))
        result = self.env.step(act)
        try:
            observations, rewards, terminated, truncated, _ = result
        except (TypeError, ValueError):
            raise UserError(
                f"env '{self.env_id}': step() returned {type(result).__name__}, not (observations, rewards, "
                "terminated, truncated, info); marlzoo needs the Gymnasium >= 0.26 API"
            ) from None
        self.t += 1
        terms, truncs = self._flags(terminated, "terminated"), self._flags(truncated, "truncated")
        ended = bool(np.all(terms | truncs))
        if ended and self.t >= self._env_limit:
            terms[:] = False  # the env's own time limit, whichever flag it raised: a cut, not an end
        alive = self.alive & ~terms  # an agent that has left stays gone
        self._write(observations, alive)
        if np.isscalar(rewards):
            reward = float(rewards)  # one reward for the whole team
        else:
            reward = self._team_reward(self._agent_values(rewards, "rewards"))
        if not alive.any():
            return reward, True, False
        if ended or self.t >= self.spec.episode_limit:
            return reward, False, True
        return reward, False, False
