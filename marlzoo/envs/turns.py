"""The adapter for a turn-based AECEnv (Hanabi, ...): one step is one agent's turn.

Only the agent whose turn it is acts; every other agent may only take the extra no-op action
``spec.noop_action`` (the last one), which is never sent to the env. The team reward of a step is the
sum (or mean) of ``env.rewards`` after that turn, so a round of turns adds up exactly what the agents'
own cumulative rewards collect, with no reward counted twice or lost. Turn-based games take discrete
actions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo import AECEnv

from marlzoo.envs.adapter_base import BAD_OBSERVATION, Adapter, declared_limit
from marlzoo.errors import UserError


class TurnBasedAdapter(Adapter):
    """Runs an AECEnv one turn per step. ``episode_limit`` counts turns; when it is read from the
    env's ``max_cycles`` instead, the game gets ``max_cycles * n_agents`` turns.

    :func:`~marlzoo.envs.adapter.PettingZooAdapter` picks this adapter for the AECEnvs PettingZoo
    cannot run in parallel; built directly, it runs any AECEnv with discrete actions one turn at a time.
    """

    turn_based = True

    def _setup_stepping(self) -> None:
        self.steps_directly = False
        self._episode_seeds: np.random.Generator | None = None

    def _prepare(self, env: Any) -> Any:
        if not isinstance(env, AECEnv):
            raise UserError(
                f"env '{self.env_id}' ({type(env).__name__}) is not a PettingZoo AECEnv; TurnBasedAdapter runs "
                "AECEnvs one turn at a time (PettingZooAdapter takes any PettingZoo env)"
            )
        return env

    def _noop_action(self, widest: int) -> int:
        if not self._discrete:
            raise UserError(
                f"env '{self.env_id}' is a turn-based AECEnv with continuous actions; marlzoo runs turn-based games "
                "with discrete actions only (an AECEnv whose metadata says is_parallelizable=True runs in parallel)"
            )
        return widest

    def _mode_notes(self) -> list[str]:
        return [f"turn-based: one agent acts per step, the others take the no-op action {self._noop}"]

    def _find_limit(self) -> int:
        return declared_limit(self.env, self.env_id, " (counted in turns)") * len(self._names)

    def _write_turn(self) -> None:
        """Every live agent's own view; only the agent whose turn it is has real actions."""
        env, avail, alive, index = self.env, self.avail, self.alive, self._index
        self.obs.fill(0.0)
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
                    self._write_obs(i, value)  # a waiting agent's mask is not used: it may only wait
        except BAD_OBSERVATION as exc:
            raise self._bad_observation(name, value, exc) from None
        self._write_state()

    def reset(self, seed: int | None = None) -> None:
        """Start an episode. Reset without a seed, the game gets one drawn from the last seed given:
        OpenSpiel games (Hanabi, through shimmy) draw fresh entropy on ``reset(seed=None)``, which
        would make a seeded run impossible to repeat."""
        self.t = 0
        if seed is not None:
            self._episode_seeds = np.random.default_rng(seed)
        elif self._episode_seeds is not None:
            seed = int(self._episode_seeds.integers(2**31 - 1))
        self.env.reset(seed=seed)
        self._skip_departed()
        self._write_turn()

    def step(self, actions: np.ndarray) -> tuple[float, bool, bool]:
        """Play the turn of the agent whose turn it is with its entry of ``actions``; the waiting
        agents' entries are ignored.

        Returns (team reward, terminated, truncated). The episode is over when either is true.
        """
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
        reward = self._team_reward(env.rewards.values())
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
            reward += self._team_reward(env.rewards.values())
        return reward
