"""Small PettingZoo envs of our own, for adapter edge cases: masks, departures, odd spaces."""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class MaskedCorridor(ParallelEnv):
    """Two agents; each may only take even actions (mask in the observation dict), or in ``infos``.

    The team is rewarded 1 per agent for action 2. Agent ``b`` leaves after ``b_leaves_at`` steps;
    the episode lasts ``limit`` steps.
    """

    metadata = {"name": "masked_corridor_v0", "is_parallelizable": True}

    def __init__(self, mask_in: str = "obs", limit: int = 4, b_leaves_at: int | None = None):
        self.possible_agents = ["a", "b"]
        self.mask_in = mask_in
        self.limit = limit
        self.b_leaves_at = b_leaves_at
        self.t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        box = spaces.Box(0.0, 10.0, (3,), np.float32)
        if self.mask_in == "obs":
            return spaces.Dict({"observation": box, "action_mask": spaces.MultiBinary(4)})
        return box

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(4)

    def _obs(self, agent):
        value = np.array([self.t, self.possible_agents.index(agent), 1.0], dtype=np.float32)
        if self.mask_in == "obs":
            return {"observation": value, "action_mask": np.array([1, 0, 1, 0], dtype=np.int8)}
        return value

    def _infos(self):
        if self.mask_in == "infos":
            return {a: {"action_mask": np.array([1, 0, 1, 0], dtype=np.int8)} for a in self.agents}
        return {a: {} for a in self.agents}

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: self._obs(a) for a in self.agents}, self._infos()

    def step(self, actions):
        assert set(actions) == set(self.agents), f"actions for {set(actions)} but live agents are {self.agents}"
        for a, act in actions.items():
            assert act in (0, 2), f"masked action {act} was sent for {a}"
        self.t += 1
        rewards = {a: float(actions[a] == 2) for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: self.t >= self.limit for a in self.agents}
        if self.b_leaves_at is not None and self.t == self.b_leaves_at and "b" in self.agents:
            terms["b"] = True
        obs = {a: self._obs(a) for a in self.agents}
        infos = self._infos()
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos


class ReachGoal(ParallelEnv):
    """One step episodes that terminate (not truncate) when both agents pick action 1."""

    metadata = {"name": "reach_goal_v0"}

    def __init__(self):
        self.possible_agents = ["x", "y"]

    def observation_space(self, agent):
        return spaces.Box(-1.0, 1.0, (2,), np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: np.zeros(2, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        done = all(v == 1 for v in actions.values())
        rewards = {a: 1.0 if done else 0.0 for a in self.agents}
        terms = {a: done for a in self.agents}
        truncs = {a: (not done and self.t >= 3) for a in self.agents}
        obs = {a: np.full(2, self.t, np.float32) for a in self.agents}
        self.agents = [] if (done or self.t >= 3) else self.agents
        return obs, rewards, terms, truncs, {a: {} for a in obs}


class OddSpaces(ParallelEnv):
    """An env whose observation space is a Graph-like Tuple of a Text, which no adapter should accept."""

    metadata = {"name": "odd_spaces_v0"}

    def __init__(self, obs_space="text", act_space="discrete"):
        self.possible_agents = ["p", "q"]
        self._obs = spaces.Text(5) if obs_space == "text" else spaces.Box(0, 1, (2,))
        self._act = {
            "discrete": lambda a: spaces.Discrete(3),
            "mixed": lambda a: spaces.Discrete(3) if a == "p" else spaces.Box(-1, 1, (2,)),
            "box2d": lambda a: spaces.Box(-1, 1, (2, 2)),
        }[act_space]

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act(agent)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return {a: self._obs.sample() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        raise NotImplementedError


def masked_corridor(**kwargs):
    return MaskedCorridor(**kwargs)


def reach_goal():
    return ReachGoal()


class UndrawnReachGoal(ReachGoal):
    """ReachGoal that takes a ``render_mode`` but cannot draw: ``render()`` returns None, or is
    PettingZoo's own, which raises NotImplementedError (``frame="missing"``)."""

    def __init__(self, render_mode=None, frame="none"):
        super().__init__()
        self.render_mode = render_mode
        self.frame = frame

    def render(self):
        return None if self.frame == "none" else super().render()


def undrawn_reach_goal(**kwargs):
    return UndrawnReachGoal(**kwargs)


def failing_env(phase: str = "step", at: int = 3):
    """simple_spread whose own code raises: in its factory (``phase="factory"``), its reset, or its
    ``at``-th step; for the one-line report of errors inside a user's env."""
    from mpe2 import simple_spread_v3
    from pettingzoo.utils.wrappers import BaseParallelWrapper

    if phase == "factory":
        raise ZeroDivisionError("the factory divided by zero")

    class Failing(BaseParallelWrapper):
        steps = 0

        def reset(self, seed=None, options=None):
            if phase == "reset":
                raise KeyError("no such level")
            return super().reset(seed=seed, options=options)

        def step(self, actions):
            self.steps += 1
            if self.steps >= at:
                raise RuntimeError("the physics exploded")
            return super().step(actions)

    return Failing(simple_spread_v3.parallel_env())


def watched_env(pid_file: str = "", delay: float = 0.0, die_at: int = 0):
    """simple_spread that appends its process id to ``pid_file`` at its first step (so a test can find
    the worker running it, and kill it), sleeps ``delay`` seconds a step, and kills its own process
    with SIGKILL at step ``die_at`` (0: never); for a worker lost mid-cell."""
    import os
    import signal
    import time

    from mpe2 import simple_spread_v3
    from pettingzoo.utils.wrappers import BaseParallelWrapper

    class Watched(BaseParallelWrapper):
        steps = 0

        def step(self, actions):
            self.steps += 1
            if self.steps == 1 and pid_file:
                with open(pid_file, "a") as f:
                    f.write(f"{os.getpid()}\n")
            if self.steps == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(delay)
            return super().step(actions)

    return Watched(simple_spread_v3.parallel_env())
