"""The adapter for a ParallelEnv, or an AECEnv that PettingZoo can run in parallel: one step is one
joint action. An AECEnv whose metadata says ``is_parallelizable`` runs through ``aec_to_parallel``, and
PettingZoo's conversion wrapper is stepped around where that is exact (:mod:`marlzoo.envs.direct_step`).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from pettingzoo import AECEnv
from pettingzoo.utils.conversions import aec_to_parallel

from marlzoo.envs.adapter_base import BAD_OBSERVATION, Adapter, runs_turn_based
from marlzoo.envs.direct_step import direct_step
from marlzoo.envs.gymnasium_ma import is_multiagent_gymnasium
from marlzoo.errors import UserError


class ParallelAdapter(Adapter):
    """Runs a ParallelEnv (SuperSuit-wrapped or not), or a parallelisable AECEnv, one joint action
    per step. An agent that has left the episode is zeroed and may only take action 0, which is
    never sent to the env."""

    turn_based = False

    def _setup_stepping(self) -> None:
        self._plain_actions = all(c.plain for c in self._act_codecs)
        self._starts = [getattr(c, "start", 0) for c in self._act_codecs]
        direct = direct_step(self.env)
        self.steps_directly = direct is not None
        self._env_step = direct or self.env.step

    def _prepare(self, env: Any) -> Any:
        if isinstance(env, AECEnv):
            if runs_turn_based(env):
                raise UserError(
                    f"env '{self.env_id}' is a turn-based AECEnv (its metadata does not say is_parallelizable); "
                    "run it with TurnBasedAdapter, or let PettingZooAdapter choose"
                )
            return aec_to_parallel(env)
        if is_multiagent_gymnasium(env):
            raise UserError(
                f"env '{self.env_id}' is a Gymnasium multi-agent env (Tuple spaces), not a PettingZoo env; run it "
                "with GymnasiumMultiAgentAdapter, or let make_adapter choose"
            )
        if isinstance(env, gymnasium.Env):
            raise UserError(
                f"env '{self.env_id}' is a single-agent Gymnasium env ({type(env).__name__}); marlzoo needs a "
                "PettingZoo ParallelEnv or AECEnv with possible_agents, or a Gymnasium multi-agent env whose spaces are "
                "Tuples with one entry per agent"
            )
        if not (hasattr(env, "step") and hasattr(env, "reset") and hasattr(env, "possible_agents")):
            raise UserError(
                f"env '{self.env_id}' is a {type(env).__name__}, not a PettingZoo ParallelEnv or AECEnv; "
                "the factory must return a PettingZoo env"
            )
        return env

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
        except BAD_OBSERVATION as exc:
            raise self._bad_observation(name, value, exc) from None
        for i in np.flatnonzero(~alive):
            avail[i] = self._waiting_avail  # a departed agent's only action, never sent to the env
        self._write_state()

    def reset(self, seed: int | None = None) -> None:
        """Start an episode (``env.reset(seed=seed)``) and write its first arrays."""
        self.t = 0
        result = self.env.reset(seed=seed)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)):
            raise UserError(
                f"env '{self.env_id}': reset() returned {type(result).__name__}, not (observations, infos); "
                "marlzoo needs the PettingZoo >= 1.24 API (reset returns dicts of observations and infos)"
            )
        self._write(*result, self.env.agents)

    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Step with one action per agent (departed agents' actions are ignored).

        Returns (team reward, terminated, truncated). The episode is over when either is true.
        """
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
        reward = self._team_reward(rewards.values())
        if remaining and self.t < self.spec.episode_limit:
            return reward, False, False
        if remaining:  # our own time limit cut the episode short
            return reward, False, True
        all_terminated = all(terms.get(n, False) for n in act) and not any(truncs.get(n, False) for n in act)
        return reward, all_terminated, not all_terminated
