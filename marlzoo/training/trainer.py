"""The training loop: collect, store, learn, evaluate, log, checkpoint.

It knows algorithms only through the :class:`~marlzoo.algorithm.Algorithm` contract.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack, closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import marlzoo
from marlzoo.algorithm import Algorithm
from marlzoo.training.checkpoint import save_checkpoint
from marlzoo.config import RunConfig, dump_config
from marlzoo.envs.catalogue import make_env
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from marlzoo.training.loops import make_loop
from marlzoo.training.metrics import JsonlSink, MeanAccumulator, MetricLog, WandbSink, resolve_wandb_mode
from marlzoo.training.progress import Progress
from marlzoo.registry import get_algo
from marlzoo.training.runinfo import git_commit, hardware, peak_rss_mb, write_json_atomic
from marlzoo.training.runner import EpisodeRunner

TEST_SEED_OFFSET = 100_000


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_vector_env(config: RunConfig, n: int) -> VectorEnv:
    env = config.env
    return VectorEnv(
        lambda: make_env(env.name, env.kwargs, env.episode_limit, env.reward_aggregation, env.state, env.scale_obs), n
    )


def build_algorithm(config: RunConfig, spec) -> Algorithm:
    """The configured algorithm for ``spec``, after checking it can run there."""
    algo_cls = get_algo(config.algo_name)
    algo_cls.check_spec(spec, config.algo_name)
    return algo_cls(spec, config.algo, config.device)


def new_run_dir(parent: Path, config: RunConfig, run_id: str | None) -> Path:
    """A fresh directory for this run; an existing one is never reused."""
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
        run_dir = parent / run_id
        if run_dir.exists():
            raise UserError(f"run directory {run_dir} already exists; choose another --run-id or remove it")
    run_dir.mkdir(parents=True)
    return run_dir


class Trainer:
    """Trains one algorithm on one env for ``config.steps`` env steps, writing into ``run_dir``."""

    def __init__(self, config: RunConfig, run_dir: Path, show_progress: bool = True) -> None:
        self.config = config
        self.run_dir = run_dir
        self.show_progress = show_progress
        torch.set_num_threads(config.torch_threads)
        seed_everything(config.seed)
        with ExitStack() as opened:  # a refused run closes the envs it opened (in a notebook they would live on)
            self.train_env = opened.enter_context(closing(make_vector_env(config, config.n_envs)))
            self.test_env = opened.enter_context(closing(make_vector_env(config, min(config.n_envs, config.test_episodes))))
            self.spec = self.train_env.spec
            self.algo = build_algorithm(config, self.spec)
            self.loop = make_loop(self.algo, self.train_env, config.seed * 1000, config.algo_name, config.learner,
                                  config.torch_threads)
            opened.pop_all()
        self.test_runner = EpisodeRunner(self.test_env, seed=config.seed * 1000 + TEST_SEED_OFFSET)

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
        (run_dir / "config.yaml").write_text(dump_config(config))
        info = {**self.contract(), "status": "running", "hardware": hardware(),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json_atomic(run_dir / "run.json", info)

        log = MetricLog([JsonlSink(run_dir / "metrics.jsonl")])
        wandb_mode = resolve_wandb_mode(config.wandb.mode)
        info["wandb_mode"] = wandb_mode

        t_env = episodes = 0
        next_log, next_test, next_ckpt = config.log_interval, config.test_interval, config.checkpoint_interval
        train_stats, learn_stats = MeanAccumulator(), MeanAccumulator()
        start = time.perf_counter()
        last_return = float("nan")
        progress = Progress(config.steps, f"{config.algo_name} on {self.spec.env_id}", enabled=self.show_progress)
        try:
            if wandb_mode != "disabled":
                sink = WandbSink(run_dir, run_dir.name, config.to_dict(), wandb_mode, config.wandb.project,
                                 config.wandb.entity, config.wandb.group)
                log.sinks.append(sink)
                info["wandb_mode"] = sink.mode  # online falls back to offline when it cannot connect
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
        except BaseException as exc:
            stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}: {exc}"
            info.update(status=stopped, env_steps=t_env, wall_clock_s=round(time.perf_counter() - start, 2))
            write_json_atomic(run_dir / "run.json", info)
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

    def _checkpoint(self, t_env: int, episodes: int) -> None:
        save_checkpoint(self.run_dir / "checkpoint.pt", self.config.algo_name, self.algo.state_dict(), t_env, episodes)
