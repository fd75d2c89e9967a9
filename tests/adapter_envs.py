"""Small envs of our own for the adapter's reach: composite spaces, departures, turns, and a Gymnasium
multi-agent env with per-agent flags."""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.agent_selector import AgentSelector


class Composite(ParallelEnv):
    """Two agents with MultiDiscrete([3, 4]) actions and composite observations.

    ``obs_kind``: ``"dict"`` (a Box, a MultiBinary and a Discrete, plus an ``action_mask`` key
    with one mask per component, concatenated: 3 + 4 entries), ``"tuple"`` (two Boxes) or
    ``"dict_joint"`` (the mask over all 12 combinations, in ``infos``). The env remembers every
    action it received in ``received`` and refuses masked ones.
    """

    metadata = {"name": "composite_v0"}
    NVEC = (3, 4)

    def __init__(self, obs_kind: str = "dict", max_cycles: int = 5) -> None:
        self.possible_agents = ["u", "v"]
        self.obs_kind = obs_kind
        self.max_cycles = max_cycles
        self.received: list[dict] = []
        self._act = spaces.MultiDiscrete(np.array(self.NVEC))
        if obs_kind == "tuple":
            self._obs = spaces.Tuple((spaces.Box(-1, 1, (2,), np.float32), spaces.Box(0, 5, (3,), np.float32)))
        else:
            parts = {"pos": spaces.Box(-1, 1, (2,), np.float32), "flags": spaces.MultiBinary(3),
                     "mode": spaces.Discrete(2)}
            if obs_kind == "dict":
                parts["action_mask"] = spaces.MultiBinary(sum(self.NVEC))
            self._obs = spaces.Dict(parts)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    # component masks: agent u may not use component-0 value 2 nor component-1 value 0
    def component_masks(self, agent):
        first = np.array([1, 1, 0] if agent == "u" else [1, 1, 1], dtype=np.int8)
        second = np.array([0, 1, 1, 1] if agent == "u" else [1, 1, 1, 1], dtype=np.int8)
        return first, second

    def _observe(self, agent):
        k = self.possible_agents.index(agent)
        if self.obs_kind == "tuple":
            return (np.array([self.t / 10, -k], np.float32), np.array([k, 1, 2], np.float32))
        obs = {"pos": np.array([self.t / 10, k], np.float32), "flags": np.array([1, 0, k], np.int8), "mode": k}
        if self.obs_kind == "dict":
            obs["action_mask"] = np.concatenate(self.component_masks(agent))
        return obs

    def _infos(self):
        if self.obs_kind != "dict_joint":
            return {a: {} for a in self.agents}
        joint = {}
        for a in self.agents:
            first, second = self.component_masks(a)
            joint[a] = {"action_mask": np.outer(first, second).reshape(-1)}
        return joint

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        self.received = []
        return {a: self._observe(a) for a in self.agents}, self._infos()

    def step(self, actions):
        for a, act in actions.items():
            assert self._act.contains(np.asarray(act)), f"{act} is not in {self._act}"
            if self.obs_kind != "tuple":
                first, second = self.component_masks(a)
                assert first[act[0]] and second[act[1]], f"masked action {act} was sent for {a}"
        self.received.append({a: tuple(int(x) for x in act) for a, act in actions.items()})
        self.t += 1
        rewards = {a: float(actions[a][0] + actions[a][1]) for a in self.agents}
        done = self.t >= self.max_cycles
        obs = {a: self._observe(a) for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        infos = self._infos()
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos


class Departures(ParallelEnv):
    """Three agents; agent ``i`` leaves (terminates) after step ``leave_at[i]`` of ``max_cycles``.

    Each agent sees ``[t / max_cycles, own id, target]`` and is rewarded 1 per step for choosing the
    action ``target`` (a per-agent constant, so it is learnable). With ``continuous``, actions are
    ``Box(-1, 1, (2,))`` and the reward is ``1 - |a_0 - target / 2|``.
    """

    metadata = {"name": "departures_v0", "is_parallelizable": True}

    def __init__(self, leave_at=(3, 6, 10), max_cycles: int = 10, continuous: bool = False) -> None:
        self.possible_agents = ["a0", "a1", "a2"]
        self.leave_at = dict(zip(self.possible_agents, leave_at))
        self.max_cycles = max_cycles
        self.continuous = continuous
        self.targets = {"a0": 0, "a1": 1, "a2": 2}

    def observation_space(self, agent):
        return spaces.Box(0.0, 3.0, (3,), np.float32)

    def action_space(self, agent):
        return spaces.Box(-1.0, 1.0, (2,), np.float32) if self.continuous else spaces.Discrete(3)

    def _observe(self, agent):
        return np.array([self.t / self.max_cycles, self.possible_agents.index(agent), self.targets[agent]], np.float32)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: self._observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents), f"actions for {sorted(actions)}, live agents {self.agents}"
        self.t += 1
        if self.continuous:
            rewards = {a: 1.0 - abs(float(actions[a][0]) - self.targets[a] / 2) for a in self.agents}
        else:
            rewards = {a: float(int(actions[a]) == self.targets[a]) for a in self.agents}
        terms = {a: self.t >= self.leave_at[a] for a in self.agents}
        truncs = {a: self.t >= self.max_cycles and not terms[a] for a in self.agents}
        obs = {a: self._observe(a) for a in self.agents}
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, {a: {} for a in obs}


class TakeTurns(AECEnv):
    """A turn-based AECEnv: two players alternate for ``turns`` turns in all.

    On its turn a player picks one of 4 actions; only actions ``<= turn number % 4`` are legal (the
    mask is in the observation dict). Every turn pays every player ``action + 1`` (so the sum over
    agents counts it twice); the player that just acted also gets a private bonus of 0.5. The env
    keeps the ``moves`` it received, and checks that each came from the player whose turn it was.
    """

    metadata = {"name": "take_turns_v0", "is_parallelizable": False}

    def __init__(self, turns: int = 7) -> None:
        super().__init__()
        self.possible_agents = ["first", "second"]
        self.turns = turns
        self._obs = spaces.Dict(
            {"observation": spaces.Box(0, 100, (3,), np.float32), "action_mask": spaces.MultiBinary(4)}
        )

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return spaces.Discrete(4)

    def observe(self, agent):
        k = self.possible_agents.index(agent)
        mask = np.zeros(4, np.int8)
        if agent == self.agent_selection:
            mask[: self.turn % 4 + 1] = 1
        return {"observation": np.array([self.turn, k, float(agent == self.agent_selection)], np.float32),
                "action_mask": mask}

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._selector = AgentSelector(self.agents)
        self.agent_selection = self._selector.reset()
        self.turn = 0
        self.moves: list[tuple[str, int]] = []

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        assert action is not None and 0 <= action <= self.turn % 4, f"illegal move {action} at turn {self.turn}"
        self.moves.append((agent, int(action)))
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: float(action + 1) + (0.5 if a == agent else 0.0) for a in self.agents}
        self.turn += 1
        if self.turn >= self.turns:
            self.terminations = {a: True for a in self.agents}
        self.agent_selection = self._selector.next()
        self._accumulate_rewards()


class Spot(ParallelEnv):
    """Two agents each see a 16 x 16 grey image (uint8, ``(H, W, 1)``) with a bright 4 x 4 square in
    its left or right half, drawn anew every step, and are rewarded 1 for naming the side (0 left,
    1 right). Only the pixels tell the side: random play scores 10 of 20 per episode."""

    metadata = {"name": "spot_v0"}

    def __init__(self, max_cycles: int = 10) -> None:
        self.possible_agents = ["s0", "s1"]
        self.max_cycles = max_cycles
        self._space = spaces.Box(0, 255, (16, 16, 1), np.uint8)
        self.rng = np.random.default_rng(0)

    def observation_space(self, agent):
        return self._space

    def action_space(self, agent):
        return spaces.Discrete(2)

    def _draw(self):
        self.sides, obs = {}, {}
        for a in self.possible_agents:
            side = int(self.rng.integers(2))
            image = np.full((16, 16, 1), 30, np.uint8)
            row, col = int(self.rng.integers(0, 12)), int(self.rng.integers(0, 4)) + 8 * side
            image[row:row + 4, col:col + 4] = 250
            self.sides[a], obs[a] = side, image
        return obs

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._draw(), {a: {} for a in self.agents}

    def step(self, actions):
        rewards = {a: float(int(actions[a]) == self.sides[a]) for a in self.agents}
        self.t += 1
        done = self.t >= self.max_cycles
        obs = self._draw()
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, {a: {} for a in obs}


class Relay(gymnasium.Env):
    """A Gymnasium multi-agent env of our own: three agents, a Tuple of Box(2) observations and
    Discrete(3) actions, one shared scalar reward, and per-agent ``terminated`` lists. Agent ``k``
    leaves after step ``k + 1`` (the last one at step 3). It records every joint action in
    ``received``."""

    def __init__(self) -> None:
        self.observation_space = spaces.Tuple([spaces.Box(0, 9, (2,), np.float32)] * 3)
        self.action_space = spaces.Tuple([spaces.Discrete(3)] * 3)
        self.max_steps = 10
        self.received: list[tuple] = []

    def _obs(self):
        return tuple(np.array([k, self.t], np.float32) for k in range(3))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, actions):
        self.received.append(tuple(actions))
        self.t += 1
        terminated = [self.t > k for k in range(3)]
        return self._obs(), 1.5, terminated, [False] * 3, {}
