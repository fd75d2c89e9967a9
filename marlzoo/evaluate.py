"""Greedy evaluation of a finished (or running) run from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from marlzoo.checkpoint import load_checkpoint
from marlzoo.config import RunConfig, config_from_file
from marlzoo.errors import UserError
from marlzoo.runner import EpisodeRunner
from marlzoo.trainer import build_algorithm, make_vector_env, seed_everything


def load_run(run_dir: Path) -> RunConfig:
    """The resolved config of the run in ``run_dir``."""
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist; pass a directory under runs/ (for example --run runs/<run_id>)")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} has no config.yaml, so it is not a marlzoo run directory")
    return config_from_file(path)


def evaluate_run(run_dir: Path, episodes: int, checkpoint: Path | None = None, seed: int = 12345) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes of the run's checkpointed policy."""
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, not {episodes}")
    config = load_run(run_dir)
    payload = load_checkpoint(checkpoint or run_dir / "checkpoint.pt", config.algo_name)
    torch.set_num_threads(config.torch_threads)
    seed_everything(seed)
    venv = make_vector_env(config, min(config.n_envs, episodes))
    algo = build_algorithm(config, venv.spec)
    try:
        algo.load_state_dict(payload["state"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise UserError(f"the checkpoint does not fit this run's networks ({type(exc).__name__}); was the config changed?") from None
    try:
        return EpisodeRunner(venv, seed=seed).evaluate(algo, episodes)
    finally:
        venv.close()
