"""Shared by the MAPPO and MADDPG tests: env spies, and random play measured on the same seeds."""

from __future__ import annotations

import numpy as np

from algos.random_play import RandomPlay
from marlzoo.runner import EpisodeRunner


def spy_on_actions(venv) -> list:
    """Make every adapter of ``venv`` check each action it sends against the agent's action space."""
    sent: list = []
    for adapter in venv.envs:
        env, real = adapter.env, adapter.env.step

        def step(actions, env=env, real=real):
            for agent, a in actions.items():
                space = env.action_space(agent)
                value = np.asarray(a, dtype=space.dtype) if space.shape else a
                assert space.contains(value), f"{agent} got {a} outside {space}"
                sent.append(a)
            return real(actions)

        env.step = step
    return sent


def random_return(venv, episodes: int, seed: int) -> float:
    return float(EpisodeRunner(venv, seed=seed).evaluate(RandomPlay(venv.spec), episodes).mean())
