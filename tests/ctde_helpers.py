"""Shared by the MAPPO and MADDPG tests: env spies, and trained against random play on the same seeds."""

from __future__ import annotations

import numpy as np

from marlzoo.algos.random_play import RandomPlay
from marlzoo.config import load_config
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import Trainer, make_vector_env


def spy_on_actions(venv) -> list:
    """Make every adapter of ``venv`` check each action it sends against the agent's action space
    (wrapping the function the adapter steps its env with: ``env.step``, or its direct_step)."""
    sent: list = []
    assert hasattr(venv, "envs"), "spy on a pettingzoo-backend venv (--set env.backend=pettingzoo): it has adapters"
    for adapter in venv.envs:
        env, real = adapter.env, adapter._env_step

        def step(actions, env=env, real=real):
            for agent, a in actions.items():
                space = env.action_space(agent)
                value = np.asarray(a, dtype=space.dtype) if space.shape else a
                assert space.contains(value), f"{agent} got {a} outside {space}"
                sent.append(a)
            return real(actions)

        adapter._env_step = step
    return sent


def random_return(venv, episodes: int, seed: int) -> float:
    return float(EpisodeRunner(venv, seed=seed).evaluate(RandomPlay(venv.spec), episodes).mean())


def trained_and_random_returns(algo: str, sets: list[str], run_dir, episodes: int = 64, seed: int = 777):
    """Train ``algo`` on simple_spread with ``sets``, then the greedy return of the trained policy and
    of random play, each over ``episodes`` episodes on the same evaluation seeds."""
    cfg = load_config(algo, "simple_spread", sets=["wandb.mode=disabled", *sets])
    run_dir.mkdir()
    trainer = Trainer(cfg, run_dir, show_progress=False)
    trainer.train()
    venv = make_vector_env(cfg, 8)
    trained = float(EpisodeRunner(venv, seed=seed).evaluate(trainer.algo, episodes).mean())
    return trained, random_return(venv, episodes, seed=seed)
