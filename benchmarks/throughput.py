"""Throughput on one env, in one process: the raw PettingZoo env, marlzoo's rollout, and training.

    python benchmarks/throughput.py                                  # simple_spread, QMIX training
    python benchmarks/throughput.py --algos qmix vdn idqn --memory   # + peak RSS of a 50k-step QMIX run
    python benchmarks/throughput.py --algos qmix qtran               # QTRAN's training speed beside QMIX's
    python benchmarks/throughput.py --algos qmix mappo maddpg        # the actor-critics (rollout and replay loops)
    python benchmarks/throughput.py --env multiwalker --algos mappo  # continuous actions
    python benchmarks/throughput.py --process-learner                # + QMIX with learner=process
    python benchmarks/throughput.py --algos maddpg maddpg@algo.agent.hidden=128   # one algorithm, two settings

An entry of ``--algos`` may carry settings of its own after ``@`` (``NAME@KEY=VALUE@KEY=VALUE``),
on top of ``--set``: the same algorithm twice is an A/B of a setting's speed, in one process.

Each figure is measured twice: by the wall clock, and by the CPU time used (this process's, plus the
learner process's for learner=process). The headline figures, and the JSON's plain keys (``raw_sps``,
``rollout_sps``, ``train_sps``, ``*_ratio``), are wall-clock steps/s. On an idle machine the two agree
for inline phases; on a shared one, other processes stretch the wall clock but not our CPU time, so
the ``*_cpu_*`` keys are printed beside them. Raw and marlzoo phases alternate in rounds, and each
figure is the best over rounds; the last column is the median over rounds of each round's
wall-clock ratio to that round's raw env, which holds up when the host's speed drifts. The last
line printed is one JSON object. This is a benchmark, not a test: nothing here asserts a time.

Ratios are to the raw env as PettingZoo's parallel API steps it. A second raw phase steps the same
env the way marlzoo's adapter does (marlzoo.envs.direct_step), so that the saving on the env's own
step and the cost of the rest of marlzoo can be read apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from marlzoo.config import load_config
from marlzoo.envs.catalogue import resolve_env_factory
from marlzoo.envs.direct_step import direct_step
from marlzoo.training.loops import make_loop
from marlzoo.registry import get_algo
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import build_algorithm, make_vector_env


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(work: Callable[[], int], helper_pid: int | None = None) -> tuple[float, float]:
    """Run ``work`` (which returns the env steps it took) and return (wall sps, CPU-time sps).

    The CPU time is this process's plus, with ``helper_pid``, that of its learner process.
    """
    helper = (lambda: process_cpu_seconds(helper_pid)) if helper_pid else (lambda: 0.0)
    wall, cpu, cpu_helper = time.perf_counter(), time.process_time(), helper()
    steps = work()
    used = time.process_time() - cpu + helper() - cpu_helper
    return steps / (time.perf_counter() - wall), steps / used


def raw_env_steps(env_name: str, kwargs: dict, steps: int, seed: int, direct: bool = False) -> Callable[[], int]:
    """The PettingZoo ParallelEnv alone, random actions, one copy. ``direct``: stepped the way
    marlzoo's adapter steps it (direct_step), to separate what marlzoo saves on the env's own step
    from what the rest of marlzoo costs."""
    env = resolve_env_factory(env_name)(**kwargs)
    step = (direct_step(env) if direct else None) or env.step
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    for i, space in enumerate(spaces.values()):
        space.seed(seed + i)

    def work() -> int:
        n, episode = 0, 0
        while n < steps:
            env.reset(seed=seed + episode)
            episode += 1
            while env.agents and n < steps:
                step({a: spaces[a].sample() for a in env.agents})
                n += 1
        return n

    return work


def rollout_steps(runner: EpisodeRunner, algo, steps: int) -> Callable[[], int]:
    """marlzoo collecting exploring episodes with the policy in the loop, no learning."""

    def work() -> int:
        n = 0
        while n < steps:
            n += runner.run(algo, explore=True, t_env=0)[1].steps
        return n

    return work


def train_steps(loop, steps: int) -> Callable[[], int]:
    """marlzoo's training loop as the trainer runs it (for QMIX: collect, store, one update per episode)."""

    def work() -> int:
        n = 0
        while n < steps:
            n += loop.iterate(n).steps
        return n

    return work


def peak_rss_of_run(algo: str, env: str, steps: int) -> float:
    """Peak resident memory (MB) of a real ``marlzoo run``, read from its run.json."""
    with tempfile.TemporaryDirectory() as root:
        subprocess.run([sys.executable, "-m", "marlzoo.cli", "run", "--algo", algo, "--env", env, "--steps", str(steps),
                        "--wandb", "disabled", "--no-progress", "--run-dir", root, "--run-id", "mem"], check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads((Path(root) / "mem" / "run.json").read_text())["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--algos", nargs="+", default=["qmix"], help="algorithms whose training speed to measure")
    parser.add_argument("--steps", type=int, default=10000, help="env steps per phase per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--memory", action="store_true", help="also the peak RSS of a 50k-step run of the first algo")
    parser.add_argument("--process-learner", action="store_true",
                        help="also time each replay-based algorithm with learner=process (learning in a second process)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    setups = {}
    for entry in args.algos:
        name, *own = entry.split("@")
        learners = ["inline"]
        if args.process_learner and get_algo(name).buffer == "episodes":
            learners.append("process")
        for learner in learners:
            cfg = load_config(name, args.env, sets=[*args.sets, *own, "wandb.mode=disabled", f"n_envs={args.n_envs}"])
            venv = make_vector_env(cfg, cfg.n_envs)
            algo = build_algorithm(cfg, venv.spec)
            loop = make_loop(algo, venv, 0, name, learner)
            for _ in range(6):  # warm up: replay learners get enough episodes that every update learns
                loop.iterate(0)
            setups[entry if learner == "inline" else f"{entry}+process"] = (cfg, algo, loop)
    first_cfg, first_algo, _ = setups[args.algos[0]]
    runner = EpisodeRunner(make_vector_env(first_cfg, first_cfg.n_envs), seed=0)

    phases: dict[str, list[tuple[float, float]]] = {"raw": [], "raw_direct": [], "rollout": [],
                                                    **{f"train:{n}": [] for n in setups}}
    for r in range(args.rounds):
        phases["raw"].append(timed(raw_env_steps(args.env, first_cfg.env.kwargs, args.steps, seed=r)))
        phases["raw_direct"].append(timed(raw_env_steps(args.env, first_cfg.env.kwargs, args.steps, seed=r, direct=True)))
        phases["rollout"].append(timed(rollout_steps(runner, first_algo, args.steps)))
        for name, (_, _, loop) in setups.items():
            helper = loop.process.pid if hasattr(loop, "process") else None
            phases[f"train:{name}"].append(timed(train_steps(loop, args.steps), helper))
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1][0]:.0f} (cpu {v[-1][1]:.0f})" for k, v in phases.items()),
              flush=True)

    best = {k: (max(w for w, _ in v), max(c for _, c in v)) for k, v in phases.items()}
    raw_wall, raw_cpu = best["raw"]
    result: dict[str, object] = {"env": args.env, "n_envs": args.n_envs, "steps_per_phase": args.steps,
                                 "rounds": args.rounds, "raw_sps": round(raw_wall, 1), "raw_cpu_sps": round(raw_cpu, 1)}
    rows = [("raw env", raw_wall, raw_cpu, 1.0)]
    row_names = {"rollout": "rollout (policy in the loop)", "raw_direct": "raw env, stepped directly"}
    for key, (wall, cpu) in best.items():
        if key == "raw":
            continue
        kind, _, name = key.partition(":")
        label = kind if kind in row_names else ("train" if name == args.algos[0] else f"train_{name}")
        label = "".join(c if c.isalnum() or c == "_" else "_" for c in label)
        result[f"{label}_sps"] = round(wall, 1)
        result[f"{label}_cpu_sps"] = round(cpu, 1)
        result[f"{label}_ratio"] = round(wall / raw_wall, 3)
        result[f"{label}_cpu_ratio"] = round(cpu / raw_cpu, 3)
        # The host's speed drifts between rounds; a ratio within one round compares like with like.
        per_round = [w / r for (w, _), (r, _) in zip(phases[key], phases["raw"])]
        result[f"{label}_ratio_round_median"] = round(statistics.median(per_round), 3)
        rows.append((f"{name} training" if name else row_names[kind], wall, cpu,
                     statistics.median(per_round)))
    for _, _, loop in setups.values():
        loop.close()
    if args.memory:
        result["peak_rss_mb_50k_run"] = peak_rss_of_run(args.algos[0].split("@")[0], args.env, 50_000)

    print(f"\n{'phase':<32}{'wall steps/s':>14}{'x raw':>8}{'cpu steps/s':>14}{'x raw':>8}{'x raw, median of rounds':>25}")
    for label, wall, cpu, median in rows:
        print(f"{label:<32}{wall:>14.0f}{wall / raw_wall:>8.2f}{cpu:>14.0f}{cpu / raw_cpu:>8.2f}{median:>25.2f}")
    if "peak_rss_mb_50k_run" in result:
        print(f"peak RSS of a 50k-step {args.algos[0]} run: {result['peak_rss_mb_50k_run']} MB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
