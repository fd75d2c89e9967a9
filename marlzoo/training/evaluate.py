"""Greedy evaluation of a finished (or running) run from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from marlzoo.algorithm import Algorithm
from marlzoo.training.checkpoint import load_checkpoint
from marlzoo.config import RunConfig, config_from_file
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from marlzoo.learning.qtable import ValueTable, mask_unavailable, single_state
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import build_algorithm, make_vector_env, seed_everything


def load_run(run_dir: str | Path) -> RunConfig:
    """The resolved config of the run in ``run_dir``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist; pass a directory under runs/ (for example --run runs/<run_id>)")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} has no config.yaml, so it is not a marlzoo run directory")
    return config_from_file(path)


def load_trained(run_dir: str | Path, checkpoint: str | Path | None, n_envs: int, seed: int) -> tuple[RunConfig, VectorEnv, Algorithm]:
    """The run's config, ``n_envs`` copies of its env, and its algorithm restored from the checkpoint."""
    run_dir = Path(run_dir)
    config = load_run(run_dir)
    payload = load_checkpoint(Path(checkpoint) if checkpoint else run_dir / "checkpoint.pt", config.algo_name)
    torch.set_num_threads(config.torch_threads)
    seed_everything(seed)
    venv = make_vector_env(config, n_envs)
    algo = build_algorithm(config, venv.spec)
    try:
        algo.load_state_dict(payload["state"])
    except (KeyError, RuntimeError, ValueError) as exc:
        venv.close()
        raise UserError(f"the checkpoint does not fit this run's networks ({type(exc).__name__}); was the config changed?") from None
    return config, venv, algo


def evaluate_run(run_dir: str | Path, episodes: int, checkpoint: str | Path | None = None, seed: int = 12345) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes of the run's checkpointed policy."""
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, not {episodes}")
    config = load_run(run_dir)
    _, venv, algo = load_trained(run_dir, checkpoint, min(config.n_envs, episodes), seed)
    try:
        return EpisodeRunner(venv, seed=seed).evaluate(algo, episodes)
    finally:
        venv.close()


def value_table_of_run(run_dir: str | Path, checkpoint: str | Path | None = None) -> tuple[EnvSpec, ValueTable, torch.Tensor]:
    """The learned values of the run's checkpoint at its env's single state: ``(spec, table, avail)``.

    Works for algorithms that implement :meth:`~marlzoo.Algorithm.value_table`, on envs with one
    state and one-step episodes (the matrix games).
    """
    config, venv, algo = load_trained(run_dir, checkpoint, 1, seed=0)
    try:
        obs, state, avail = single_state(venv)
        table = algo.value_table(obs, state, avail)
    finally:
        venv.close()
    if table is None:
        raise UserError(
            f"algorithm '{config.algo_name}' has no action values to tabulate; --qtable is for value-based "
            "algorithms (those that implement Algorithm.value_table)"
        )
    return venv.spec, mask_unavailable(table, avail), avail
