"""Shared by the MAPPO and MADDPG tests: env spies, and random play measured on the same seeds."""

from __future__ import annotations

import numpy as np
import torch

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


class RandomPolicy:
    """Uniformly random available actions: the 'random play' baseline, on the runner's own seeds."""

    def init_hidden(self, batch):
        return None

    def act(self, obs, avail, hidden, *, explore, t_env):
        scores = torch.rand(avail.shape).masked_fill_(~avail, -1.0)
        return scores.argmax(dim=-1), None


def random_return(venv, episodes: int, seed: int) -> float:
    return float(EpisodeRunner(venv, seed=seed).evaluate(RandomPolicy(), episodes).mean())
