"""Greedy evaluation of a finished (or running) run from its checkpoint, and its rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from marlzoo.algorithm import Algorithm
from marlzoo.training.checkpoint import load_checkpoint
from marlzoo.config import RunConfig, config_from_file
from marlzoo.envs.recording import RecordingVectorEnv
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.batched import BatchedEnv
from marlzoo.errors import UserError
from marlzoo.learning.qtable import ValueTable, mask_unavailable, single_state
from marlzoo.training.animation import AnimationWriter, animation_writer
from marlzoo.training.runinfo import read_run_info
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import build_algorithm, env_factory, make_vector_env, seed_everything


def load_run(run_dir: str | Path, sets: tuple[str, ...] | list[str] = ()) -> RunConfig:
    """The resolved config of the run in ``run_dir``, with ``sets`` (``key=value``, as ``--set``) over it:
    for example ``env.backend=pettingzoo`` to play a policy trained on one backend on the other."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist; pass a directory under runs/ (for example --run runs/<run_id>)")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} has no config.yaml, so it is not a marlzoo run directory")
    read_run_info(run_dir)  # marks a run whose process was killed as killed
    return config_from_file(path, sets)


def load_trained(
    run_dir: str | Path,
    checkpoint: str | Path | None,
    n_envs: int,
    seed: int,
    make_venv: Callable[[RunConfig, int], BatchedEnv] = make_vector_env,
    sets: tuple[str, ...] | list[str] = (),
) -> tuple[RunConfig, BatchedEnv, Algorithm]:
    """The run's config (with ``sets`` over it), ``n_envs`` copies of its env (built by ``make_venv``),
    and its algorithm restored from the checkpoint."""
    run_dir = Path(run_dir)
    config = load_run(run_dir, sets)
    payload = load_checkpoint(Path(checkpoint) if checkpoint else run_dir / "checkpoint.pt", config.algo_name)
    torch.set_num_threads(config.torch_threads)
    seed_everything(seed)
    venv = make_venv(config, n_envs)
    algo = build_algorithm(config, venv.spec)
    try:
        algo.load_state_dict(payload["state"])
    except (KeyError, RuntimeError, ValueError) as exc:
        venv.close()
        raise UserError(f"the checkpoint does not fit this run's networks ({type(exc).__name__}); was the config changed?") from None
    return config, venv, algo


def random_returns(run_dir: str | Path, episodes: int, seed: int = 12345,
                   sets: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """Returns of ``episodes`` uniformly random episodes (``--algo random``) on the env copies, seeded
    the same way, that ``evaluate_run(run_dir, episodes, seed=seed)`` plays: the baseline a learned
    policy is compared with."""
    from marlzoo.registry import get_algo

    config = load_run(run_dir, sets)
    seed_everything(seed)
    venv = make_vector_env(config, min(config.n_envs, episodes))
    try:
        return EpisodeRunner(venv, seed=seed).evaluate(get_algo("random")(venv.spec), episodes)
    finally:
        venv.close()


def _play(run_dir: str | Path, episodes: int, checkpoint: str | Path | None, seed: int,
          make_venv: Callable[[RunConfig, int], BatchedEnv] = make_vector_env,
          sets: tuple[str, ...] | list[str] = ()) -> tuple[np.ndarray, BatchedEnv]:
    """Returns of ``episodes`` greedy episodes, on ``min(n_envs, episodes)`` copies seeded from ``seed``,
    and the (closed) vector env that played them."""
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, not {episodes}")
    if not 0 <= seed < 2**32:
        raise UserError(f"--seed must be an integer from 0 to 2**32 - 1 (numpy's range), not {seed}")
    config = load_run(run_dir, sets)
    _, venv, algo = load_trained(run_dir, checkpoint, min(config.n_envs, episodes), seed, make_venv, sets)
    try:
        return EpisodeRunner(venv, seed=seed).evaluate(algo, episodes), venv
    finally:
        venv.close()


def evaluate_run(run_dir: str | Path, episodes: int, checkpoint: str | Path | None = None, seed: int = 12345,
                 sets: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes of the run's checkpointed policy, on the run's env with
    ``sets`` (``key=value``) over its config."""
    return _play(run_dir, episodes, checkpoint, seed, sets=sets)[0]


@dataclass(frozen=True)
class Rendering:
    """What :func:`render_run` wrote: the file, its frames, the episodes they show, and frames a second."""

    path: Path
    frames: int
    episodes: int
    fps: float


def render_run(
    run_dir: str | Path,
    path: str | Path | AnimationWriter,
    episodes: int = 3,
    checkpoint: str | Path | None = None,
    seed: int = 12345,
    sets: tuple[str, ...] | list[str] = (),
) -> tuple[np.ndarray, Rendering]:
    """Play the greedy episodes :func:`evaluate_run` plays with the same arguments, drawn in
    ``render_mode="rgb_array"``, and write them to ``path`` (``.gif``, or ``.mp4`` with
    ``marlzoo[render]``) one after another; returns their returns and what was written.

    An episode of ``T`` steps gives ``T + 1`` frames: the state after its reset, then one per step.
    """
    writer = path if isinstance(path, AnimationWriter) else animation_writer(path)

    def make_venv(config: RunConfig, n: int) -> RecordingVectorEnv:
        return RecordingVectorEnv(env_factory(config, render_mode="rgb_array"), n, keep=writer.keep)

    returns, venv = _play(run_dir, episodes, checkpoint, seed, make_venv, sets)
    frames = [frame for episode in venv.episodes()[:episodes] for frame in episode]
    writer.save(frames, venv.fps)
    return returns, Rendering(writer.path, len(frames), episodes, venv.fps)


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
