"""The training loop: collect, store, learn, evaluate, log, checkpoint.

It knows algorithms only through the :class:`~marlzoo.algorithm.Algorithm` contract.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import random
import reprlib
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import marlzoo
from marlzoo.algorithm import Algorithm
from marlzoo.training.checkpoint import keep_history, save_checkpoint
from marlzoo.config import RunConfig, dump_config
from marlzoo.envs.adapter import Adapter
from marlzoo.envs.batched import BatchedEnv
from marlzoo.envs.catalogue import make_env
from marlzoo.config import EnvConfig
from marlzoo.envs.mpe import covers, vectorised_env
from marlzoo.envs.subproc import SubprocVectorEnv
from marlzoo.envs.vector import VectorEnv
from marlzoo.envs.vmas_env import is_vmas_name, vmas_env
from marlzoo.errors import RunInterrupted, UserError
from marlzoo.rngstate import global_rng_state, object_rng_state, set_global_rng_state, set_object_rng_state
from marlzoo.training.loops import make_loop
from marlzoo.training.metrics import (JsonlSink, MeanAccumulator, MetricLog, TensorBoardSink, WandbSink, display_path,
                                      last_values, resolve_wandb_mode, truncate_rows)
from marlzoo.training.progress import Progress, progress_mode
from marlzoo.registry import get_algo
from marlzoo.training.runinfo import (git_commit, hardware, peak_rss_mb, process_identity, read_json, write_json_atomic,
                                     write_text_atomic)
from marlzoo.training.signals import StopSignals
from marlzoo.training.runner import BatchedEvaluation, EpisodeRunner

TEST_SEED_OFFSET = 100_000
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_factory(config: RunConfig, render_mode: str | None = None) -> Callable[[], Adapter]:
    """A function that builds one copy of the config's env (drawing in ``render_mode``, if given)."""
    env = config.env  # a partial, not a lambda: worker processes (env.n_workers) unpickle it
    return functools.partial(make_env, env.name, env.kwargs, env.episode_limit, env.reward_aggregation, env.state,
                             env.scale_obs, render_mode=render_mode)


def backend_of(env: EnvConfig) -> str:
    """The backend ``env`` steps on: ``env.backend``, with ``auto`` read as ``vectorised`` where that
    backend covers the env and its kwargs (and no worker processes are asked for), else ``pettingzoo``.
    Both give the same numbers (tests/test_mpe_vectorised.py), so the choice is one of speed only."""
    if env.backend != "auto":
        return env.backend
    return "vectorised" if env.n_workers <= 1 and covers(env.name, env.kwargs) else "pettingzoo"


def make_vector_env(config: RunConfig, n: int) -> BatchedEnv:
    """``n`` copies of the config's env, on its backend (:func:`backend_of`), in ``env.n_workers`` processes
    (a ``vmas:<scenario>`` env on VMAS)."""
    env = config.env
    if env.n_workers < 0:
        raise UserError(f"env.n_workers must be 0 (or 1: step the copies in this process) or a number of worker "
                        f"processes, not {env.n_workers}")
    if is_vmas_name(env.name):  # a VMAS scenario always runs on VMAS, seeded from the run's seed
        return vmas_env(env.name, n, env.kwargs, env.episode_limit, env.reward_aggregation, env.state, env.scale_obs,
                        env.time_limit, config.seed, env.backend, env.n_workers)
    if env.n_workers > 1 and env.backend == "vectorised":
        raise UserError("env.n_workers is for env.backend=pettingzoo; the vectorised backend steps every copy "
                        "at once in this process, so use env.n_workers=0 with it")
    if env.n_workers > 1:
        return SubprocVectorEnv(env_factory(config), n, env.n_workers, env.time_limit)
    if backend_of(env) == "vectorised":
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
    if backend_of(config.env) == "vectorised" and 1 < rounds and slots * rounds <= EVAL_COPY_CAP:
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


@dataclass
class Counters:
    """Where the loop is: env steps, episodes, the next log, test and checkpoint points, and the
    wall-clock seconds of the sessions before this one (a resumed run's clock goes on)."""

    t_env: int
    episodes: int
    next_log: int
    next_test: int
    next_ckpt: int
    elapsed: float = 0.0


class Trainer:
    """Trains one algorithm on one env for ``config.steps`` env steps, writing into ``run_dir``.

    Built with ``resume`` (a checkpoint's payload, read by :func:`marlzoo.api.resume`), it goes on
    from that checkpoint exactly: everything :meth:`resume_state` saved is put back.
    """

    def __init__(self, config: RunConfig, run_dir: Path, show_progress: bool | str = True,
                 tensorboard: bool = False, resume: dict[str, Any] | None = None) -> None:
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
            opened.callback(self.loop.close)
            self.counters = Counters(0, 0, config.log_interval, config.test_interval, config.checkpoint_interval)
            self.train_stats, self.learn_stats = MeanAccumulator(), MeanAccumulator()
            self._global_rng: dict[str, Any] | None = None  # restored just before the loop starts
            self.resumed_at: int | None = None
            if resume is not None:
                self._restore(resume)
            opened.pop_all()

    # ------------------------------------------------------------------ checkpoints
    def resume_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the algorithm's state: the counters and the metrics
        accumulated since the last row, the loop's state (env copies, update schedule, replay buffer
        unless ``checkpoint_buffer: false``), the test envs, and every random stream, the
        algorithm's own generators included. Reading them draws no random number."""
        return {
            "counters": dataclasses.asdict(self.counters),
            "train_stats": self.train_stats.state_dict(),
            "learn_stats": self.learn_stats.state_dict(),
            "loop": self.loop.state_dict(self.config.checkpoint_buffer),
            "test_runner": self.test_runner.state_dict(),
            "algo_rng": object_rng_state(self.algo),
            "rng": global_rng_state(),
            "buffer_saved": self.config.checkpoint_buffer,
        }

    def _restore(self, payload: dict[str, Any]) -> None:
        state = payload["resume"]
        try:
            self.algo.load_state_dict(payload["state"])
            set_object_rng_state(self.algo, state["algo_rng"])
            self.loop.load_state_dict(state["loop"])
            self.test_runner.load_state_dict(state["test_runner"])
            self.counters = Counters(**state["counters"])
            self.train_stats.load_state_dict(state["train_stats"])
            self.learn_stats.load_state_dict(state["learn_stats"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"the checkpoint in {self.run_dir} does not fit this run ({type(exc).__name__}: "
                            f"{reprlib.repr(str(exc))}); was its config, env or marlzoo changed?") from None
        self._global_rng = state["rng"]
        self.resumed_at = self.counters.t_env

    def _checkpoint(self) -> None:
        c, path = self.counters, self.run_dir / "checkpoint.pt"
        save_checkpoint(path, self.config.algo_name, self.algo.state_dict(), c.t_env, c.episodes, self.resume_state())
        if self.config.keep_checkpoints:
            keep_history(path, self.run_dir, c.t_env, self.config.keep_checkpoints)

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
            "backend": backend_of(self.config.env),
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
        """Run to ``config.steps`` (from the checkpoint, when resumed) and return run.json's contents.

        SIGINT and SIGTERM stop it after the iteration under way, with a checkpoint: run.json then
        says ``interrupted`` and :class:`~marlzoo.errors.RunInterrupted` says how to resume.
        """
        config, run_dir, c = self.config, self.run_dir, self.counters
        info, log = self._open_run()
        start = time.perf_counter() - c.elapsed
        progress = Progress(config.steps, f"{config.algo_name} on {self.spec.env_id}", self.progress_mode)
        stop = StopSignals()
        try:
            self._open_sinks(log, progress, info)
            if self._global_rng is not None:  # last: nothing before the loop may draw from the saved streams
                set_global_rng_state(self._global_rng)
            with progress, stop:
                last_return = float("nan")
                while c.t_env < config.steps and stop.signal is None:
                    last_return = self._iterate(log, progress, info, start, last_return)
            c.elapsed = time.perf_counter() - start
            self._checkpoint()
            if stop.signal is not None:
                raise RunInterrupted(f"stopped by {stop.name} at env step {c.t_env:,} with a checkpoint; "
                                     f"go on with: marlzoo run --resume {display_path(run_dir)}", stop.signal)
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                self._record_stop(info, f"failed: {type(exc).__name__}: {exc}", c.t_env, start)
                raise
            failure = UserError(
                f"cannot write {exc.filename or 'into ' + str(run_dir)}: {exc.strerror}; the run stopped at env step "
                f"{c.t_env}, and what it wrote before is kept in {run_dir}"
            )
            self._record_stop(info, f"failed: {failure}", c.t_env, start)
            raise failure from exc
        except BaseException as exc:
            stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}: {exc}"
            self._record_stop(info, stopped, c.t_env, start)
            raise
        finally:
            log.close()
            self.loop.close()
            self.train_env.close()
            self.test_env.close()
        wall = time.perf_counter() - start
        final = {k: v for k, v in log.latest.items() if not k.startswith("time/")}
        info.update(status="finished", env_steps=c.t_env, episodes=c.episodes, wall_clock_s=round(wall, 2),
                    sps=round(c.t_env / wall, 1), peak_rss_mb=peak_rss_mb(), final_metrics=final,
                    finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        write_json_atomic(run_dir / "run.json", info)
        return info

    def _open_run(self) -> tuple[dict[str, Any], MetricLog]:
        """Write config.yaml and run.json (status ``running``, with this process's pid and a
        heartbeat) and open metrics.jsonl; a resumed run first drops the rows after its checkpoint."""
        config, run_dir = self.config, self.run_dir
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        info = {**self.contract(), "status": "running", "hardware": hardware(), "started_at": now,
                **process_identity(), "heartbeat_at": now, "env_steps": self.counters.t_env}
        try:
            if self.resumed_at is not None:
                old = read_json(run_dir / "run.json")
                info["started_at"] = old.get("started_at", now)
                info["resumed"] = [*old.get("resumed", []), {"at_env_step": self.resumed_at, "at": now}]
                truncate_rows(run_dir / "metrics.jsonl", self.resumed_at)
            write_text_atomic(run_dir / "config.yaml", dump_config(config))
            write_json_atomic(run_dir / "run.json", info)
            log = MetricLog([JsonlSink(run_dir / "metrics.jsonl")])
            if self.resumed_at is not None:  # run.json's final metrics are the last of each, before as after
                log.latest = last_values(run_dir / "metrics.jsonl")
        except OSError as exc:
            raise UserError(f"cannot write into the run directory {run_dir}: {exc.strerror or exc}; "
                            "pass a --run-dir with space and write permission") from None
        info["wandb_mode"] = resolve_wandb_mode(config.wandb.mode)
        return info, log

    def _iterate(self, log: MetricLog, progress: Progress, info: dict[str, Any], start: float,
                 last_return: float) -> float:
        """One collection, its learning, and the log row, evaluation and checkpoint it is due;
        returns the mean return of the episodes it finished (``last_return`` if none)."""
        config, c = self.config, self.counters
        collected = self.loop.iterate(c.t_env)
        c.t_env += collected.steps
        c.episodes += len(collected.returns)
        for ret, length in zip(collected.returns, collected.lengths):
            self.train_stats.add({"train/return_mean": ret, "train/ep_length_mean": length})
        for metrics in collected.learn_metrics:
            self.learn_stats.add(metrics)
        if len(collected.returns):
            last_return = float(np.mean(collected.returns))
        progress.update(c.t_env, train_return=last_return, sps=c.t_env / (time.perf_counter() - start))
        done = c.t_env >= config.steps
        if done:  # the final evaluation and checkpoint see every update
            for metrics in self.loop.finish():
                self.learn_stats.add(metrics)
        row: dict[str, Any] = {}
        if c.t_env >= c.next_log or done:
            c.next_log += config.log_interval * max(1, (c.t_env - c.next_log) // config.log_interval + 1)
            row.update(self.train_stats.pop())
            row.update(self.learn_stats.pop())
            row.update(self.algo.log_info(c.t_env))
        tested = c.t_env >= c.next_test or done
        if tested:
            c.next_test += config.test_interval * max(1, (c.t_env - c.next_test) // config.test_interval + 1)
            returns = self.test_runner.evaluate(self.algo, config.test_episodes)
            row["test/return_mean"] = float(returns.mean())
            row["test/return_std"] = float(returns.std())
            progress.note_test(c.t_env, row["test/return_mean"], row["test/return_std"])
        if row:
            row.update({"env_steps": c.t_env, "episodes": c.episodes,
                        "time/sps": c.t_env / (time.perf_counter() - start),
                        "time/elapsed_s": time.perf_counter() - start})
            log.write(row)
        due = c.t_env >= c.next_ckpt
        if due:
            c.next_ckpt += config.checkpoint_interval
        if (due or (tested and config.checkpoint_at_test)) and not done:
            c.elapsed = time.perf_counter() - start
            self._checkpoint()
        if row or due:
            info["heartbeat_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            info["env_steps"] = c.t_env
            write_json_atomic(self.run_dir / "run.json", info)
        return last_return

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
                             config.wandb.entity, config.wandb.group, offline_reason=reason,
                             init_timeout=config.wandb.init_timeout)
            log.sinks.append(sink)
            info["wandb_mode"] = sink.mode  # online falls back to offline when it cannot connect
            if sink.note:
                progress.line(sink.note)
