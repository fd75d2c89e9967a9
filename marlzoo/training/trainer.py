"""The training loop: collect, store, learn, evaluate, log, checkpoint.

It knows algorithms only through the :class:`~marlzoo.algorithm.Algorithm` contract.
"""

from __future__ import annotations

import errno
import random
import reprlib
import time
from contextlib import ExitStack, closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import marlzoo
from marlzoo.algorithm import Algorithm
from marlzoo.training.checkpoint import save_checkpoint
from marlzoo.config import RunConfig, dump_config
from marlzoo.envs.adapter import Adapter
from marlzoo.envs.batched import BatchedEnv
from marlzoo.envs.catalogue import make_env
from marlzoo.envs.mpe import vectorised_env
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from marlzoo.training.loops import make_loop
from marlzoo.training.metrics import (JsonlSink, MeanAccumulator, MetricLog, TensorBoardSink, WandbSink, display_path,
                                      resolve_wandb_mode)
from marlzoo.training.progress import Progress, progress_mode
from marlzoo.registry import get_algo
from marlzoo.training.runinfo import git_commit, hardware, peak_rss_mb, write_json_atomic
from marlzoo.training.runner import BatchedEvaluation, EpisodeRunner

TEST_SEED_OFFSET = 100_000
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_factory(config: RunConfig, render_mode: str | None = None) -> Callable[[], Adapter]:
    """A function that builds one copy of the config's env (drawing in ``render_mode``, if given)."""
    env = config.env
    return lambda: make_env(env.name, env.kwargs, env.episode_limit, env.reward_aggregation, env.state,
                            env.scale_obs, render_mode=render_mode)


def make_vector_env(config: RunConfig, n: int) -> BatchedEnv:
    """``n`` copies of the config's env, on its ``env.backend``."""
    env = config.env
    if env.backend == "vectorised":
        return vectorised_env(env.name, n, env.kwargs, env.episode_limit, env.reward_aggregation, env.state,
                              env.scale_obs, env.time_limit)
    return VectorEnv(env_factory(config), n, env.time_limit)


EVAL_COPY_CAP = 256  # vectorised backend: the most env copies one evaluation steps together


def make_evaluation(config: RunConfig, seed: int) -> tuple[BatchedEnv, EpisodeRunner | BatchedEvaluation]:
    """The test env and what plays the run's greedy evaluations on it: ``min(n_envs, test_episodes)``
    copies in rounds, or on the ``vectorised`` backend, whose copies cost little, all the rounds at
    once (up to :data:`EVAL_COPY_CAP` copies), with the same returns."""
    slots = min(config.n_envs, config.test_episodes)
    rounds = -(-config.test_episodes // slots)
    if config.env.backend == "vectorised" and 1 < rounds and slots * rounds <= EVAL_COPY_CAP:
        venv = make_vector_env(config, slots * rounds)
        return venv, BatchedEvaluation(venv, seed, slots, rounds)
    venv = make_vector_env(config, slots)
    return venv, EpisodeRunner(venv, seed)


def build_algorithm(config: RunConfig, spec) -> Algorithm:
    """The configured algorithm for ``spec``, after checking it can run there."""
    algo_cls = get_algo(config.algo_name)
    algo_cls.check_spec(spec, config.algo_name)
    return algo_cls(spec, config.algo, config.device)


MAX_RUN_ID = 200  # characters; file systems allow 255 bytes per name


def check_run_id(run_id: str) -> str:
    """``run_id`` if it names one directory inside the run dir, else a :class:`UserError`."""
    bad = next((c for c in run_id if c in '/\\' or not c.isprintable()), None)
    if not run_id.strip() or run_id in (".", "..") or bad is not None or len(run_id) > MAX_RUN_ID:
        shown = reprlib.repr(run_id)
        why = (f"holds {bad!r}" if bad is not None else f"is {len(run_id)} characters long" if len(run_id) > MAX_RUN_ID
               else "names no directory of its own")
        raise UserError(f"--run-id {shown} {why}; a run id is one folder name inside --run-dir: printable, without "
                        f"/ or \\, at most {MAX_RUN_ID} characters")
    return run_id


def new_run_dir(parent: Path, config: RunConfig, run_id: str | None) -> Path:
    """A fresh directory for this run, inside ``parent``; an existing one is never reused."""
    if parent.exists() and not parent.is_dir():
        raise UserError(f"--run-dir {parent} is a file, not a directory; pass a directory (it is created if missing)")
    if run_id is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        env = config.env.name.replace(":", "_").replace("/", "_").replace(".", "_")
        run_id = f"{config.algo_name}-{env}-s{config.seed}-{stamp}"
        candidate, k = parent / run_id, 1
        while candidate.exists():
            k += 1
            candidate = parent / f"{run_id}-{k}"
        run_dir = candidate
    else:
        run_dir = parent / check_run_id(run_id)
        if run_dir.exists():
            raise UserError(f"run directory {run_dir} already exists; choose another --run-id or remove it")
    try:
        run_dir.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}; pass a writable --run-dir") from None
    return run_dir


class Trainer:
    """Trains one algorithm on one env for ``config.steps`` env steps, writing into ``run_dir``."""

    def __init__(self, config: RunConfig, run_dir: Path, show_progress: bool | str = True,
                 tensorboard: bool = False) -> None:
        """``show_progress``: ``True`` (a bar on a terminal, plain lines elsewhere), ``False`` (silent) or a
        :mod:`~marlzoo.training.progress` mode; ``tensorboard``: also write TensorBoard event files."""
        self.config = config
        self.run_dir = run_dir
        self.progress_mode = progress_mode(show_progress)
        self.tensorboard = tensorboard
        torch.set_num_threads(config.torch_threads)
        seed_everything(config.seed)
        with ExitStack() as opened:  # a refused run closes the envs it opened (in a notebook they would live on)
            self.train_env = opened.enter_context(closing(make_vector_env(config, config.n_envs)))
            self.test_env, self.test_runner = make_evaluation(config, config.seed * 1000 + TEST_SEED_OFFSET)
            opened.enter_context(closing(self.test_env))
            self.spec = self.train_env.spec
            self.algo = build_algorithm(config, self.spec)
            self.loop = make_loop(self.algo, self.train_env, config.seed * 1000, config.algo_name, config.learner,
                                  config.torch_threads)
            opened.pop_all()

    # ------------------------------------------------------------------ run.json
    def contract(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "run_id": self.run_dir.name,
            "algo": self.config.algo_name,
            "env_id": spec.env_id,
            "env_kwargs": self.config.env.kwargs,
            "env_package": spec.env_package,
            "env_version": spec.env_version,
            "n_agents": spec.n_agents,
            "episode_limit": spec.episode_limit,
            "time_limit": self.config.env.time_limit,
            "reward_aggregation": spec.reward_aggregation,
            "return_definition": f"sum over the episode of the team reward (the {spec.reward_aggregation} over agents)",
            "seed": self.config.seed,
            "steps": self.config.steps,
            "marlzoo_version": marlzoo.__version__,
            "git_commit": git_commit(),
            "env_spec": spec.to_dict(),
        }

    # ------------------------------------------------------------------ loop
    def train(self) -> dict[str, Any]:
        config, run_dir = self.config, self.run_dir
        info = {**self.contract(), "status": "running", "hardware": hardware(),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            (run_dir / "config.yaml").write_text(dump_config(config))
            write_json_atomic(run_dir / "run.json", info)
            log = MetricLog([JsonlSink(run_dir / "metrics.jsonl")])
        except OSError as exc:
            raise UserError(f"cannot write into the run directory {run_dir}: {exc.strerror or exc}; "
                            "pass a --run-dir with space and write permission") from None
        info["wandb_mode"] = resolve_wandb_mode(config.wandb.mode)

        t_env = episodes = 0
        next_log, next_test, next_ckpt = config.log_interval, config.test_interval, config.checkpoint_interval
        train_stats, learn_stats = MeanAccumulator(), MeanAccumulator()
        start = time.perf_counter()
        last_return = float("nan")
        progress = Progress(config.steps, f"{config.algo_name} on {self.spec.env_id}", self.progress_mode)
        try:
            self._open_sinks(log, progress, info)
            with progress:
                while t_env < config.steps:
                    collected = self.loop.iterate(t_env)
                    t_env += collected.steps
                    episodes += len(collected.returns)
                    for ret, length in zip(collected.returns, collected.lengths):
                        train_stats.add({"train/return_mean": ret, "train/ep_length_mean": length})
                    for metrics in collected.learn_metrics:
                        learn_stats.add(metrics)
                    elapsed = time.perf_counter() - start
                    if len(collected.returns):
                        last_return = float(np.mean(collected.returns))
                    progress.update(t_env, train_return=last_return, sps=t_env / elapsed)
                    done = t_env >= config.steps
                    if done:  # the final evaluation and checkpoint see every update
                        for metrics in self.loop.finish():
                            learn_stats.add(metrics)
                    row: dict[str, Any] = {}
                    if t_env >= next_log or done:
                        next_log += config.log_interval * max(1, (t_env - next_log) // config.log_interval + 1)
                        row.update(train_stats.pop())
                        row.update(learn_stats.pop())
                        row.update(self.algo.log_info(t_env))
                    if t_env >= next_test or done:
                        next_test += config.test_interval * max(1, (t_env - next_test) // config.test_interval + 1)
                        returns = self.test_runner.evaluate(self.algo, config.test_episodes)
                        row["test/return_mean"] = float(returns.mean())
                        row["test/return_std"] = float(returns.std())
                        progress.note_test(t_env, row["test/return_mean"], row["test/return_std"])
                    if row:
                        row.update({"env_steps": t_env, "episodes": episodes,
                                    "time/sps": t_env / (time.perf_counter() - start),
                                    "time/elapsed_s": time.perf_counter() - start})
                        log.write(row)
                    if t_env >= next_ckpt and not done:
                        next_ckpt += config.checkpoint_interval
                        self._checkpoint(t_env, episodes)
            self._checkpoint(t_env, episodes)
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                self._record_stop(info, f"failed: {type(exc).__name__}: {exc}", t_env, start)
                raise
            failure = UserError(
                f"cannot write {exc.filename or 'into ' + str(run_dir)}: {exc.strerror}; the run stopped at env step "
                f"{t_env}, and what it wrote before is kept in {run_dir}"
            )
            self._record_stop(info, f"failed: {failure}", t_env, start)
            raise failure from exc
        except BaseException as exc:
            stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}: {exc}"
            self._record_stop(info, stopped, t_env, start)
            raise
        finally:
            log.close()
            self.loop.close()
            self.train_env.close()
            self.test_env.close()
        wall = time.perf_counter() - start
        final = {k: v for k, v in log.latest.items() if not k.startswith("time/")}
        info.update(status="finished", env_steps=t_env, episodes=episodes, wall_clock_s=round(wall, 2),
                    sps=round(t_env / wall, 1), peak_rss_mb=peak_rss_mb(), final_metrics=final,
                    finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        write_json_atomic(run_dir / "run.json", info)
        return info

    def _record_stop(self, info: dict[str, Any], status: str, t_env: int, start: float) -> None:
        """Say in run.json why the run stopped, if the disk still takes it."""
        info.update(status=status, env_steps=t_env, wall_clock_s=round(time.perf_counter() - start, 2))
        try:
            write_json_atomic(self.run_dir / "run.json", info)
        except OSError:
            pass  # the disk that stopped the run; the error on its way out says so

    def _open_sinks(self, log: MetricLog, progress: Progress, info: dict[str, Any]) -> None:
        """Start the opt-in sinks (TensorBoard, W&B), each saying where it writes; first, say why the
        run will take more env steps than asked, if it will."""
        config, run_dir = self.config, self.run_dir
        note = self.loop.budget_note(config.steps)
        if note:
            progress.line(note)
        if self.tensorboard:
            log.sinks.append(TensorBoardSink(run_dir / "tensorboard"))
            progress.line(f"TensorBoard logs to {display_path(run_dir / 'tensorboard')}; "
                          f"watch it with: tensorboard --logdir {display_path(run_dir.parent)}")
        if info["wandb_mode"] != "disabled":
            reason = "no W&B credentials were found" if config.wandb.mode == "auto" else "wandb.mode is offline"
            sink = WandbSink(run_dir, run_dir.name, config.to_dict(), info["wandb_mode"], config.wandb.project,
                             config.wandb.entity, config.wandb.group, offline_reason=reason)
            log.sinks.append(sink)
            info["wandb_mode"] = sink.mode  # online falls back to offline when it cannot connect
            if sink.note:
                progress.line(sink.note)

    def _checkpoint(self, t_env: int, episodes: int) -> None:
        save_checkpoint(self.run_dir / "checkpoint.pt", self.config.algo_name, self.algo.state_dict(), t_env, episodes)
