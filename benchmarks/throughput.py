"""Throughput on one env, in one process: the raw PettingZoo env, marlzoo's rollout, and training.

    python benchmarks/throughput.py                      # simple_spread, QMIX training
    python benchmarks/throughput.py --algos qmix vdn idqn --steps 20000

Prints each figure and its ratio to the raw env; the last line is one JSON object. Raw and marlzoo
phases alternate in rounds and each figure is the median over rounds, so that load on a shared
machine hits both alike. This is a benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from marlzoo.config import load_config
from marlzoo.envs.catalogue import resolve_env_factory
from marlzoo.loops import make_loop
from marlzoo.runner import EpisodeRunner
from marlzoo.trainer import build_algorithm, make_vector_env


def raw_sps(env_name: str, kwargs: dict, steps: int, seed: int) -> float:
    """The PettingZoo ParallelEnv alone, random actions, one copy."""
    env = resolve_env_factory(env_name)(**kwargs)
    rng = np.random.default_rng(seed)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    for a, s in spaces.items():
        s.seed(int(rng.integers(1 << 30)))
    n, episode = 0, 0
    start = time.perf_counter()
    while n < steps:
        env.reset(seed=seed + episode)
        episode += 1
        while env.agents and n < steps:
            env.step({a: spaces[a].sample() for a in env.agents})
            n += 1
    sps = n / (time.perf_counter() - start)
    env.close()
    return sps


def rollout_sps(runner: EpisodeRunner, algo, steps: int) -> float:
    """marlzoo collecting exploring episodes with the policy in the loop, no learning."""
    n = 0
    start = time.perf_counter()
    while n < steps:
        _, stats = runner.run(algo, explore=True, t_env=0)
        n += stats.steps
    return n / (time.perf_counter() - start)


def train_sps(loop, steps: int) -> float:
    """marlzoo's training loop as the trainer runs it (for QMIX: collect, store, one update per episode)."""
    n = 0
    start = time.perf_counter()
    while n < steps:
        n += loop.iterate(n).steps
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--algos", nargs="+", default=["qmix"], help="algorithms whose training speed to measure")
    parser.add_argument("--steps", type=int, default=10000, help="env steps per phase per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)

    setups = {}
    for name in args.algos:
        cfg = load_config(name, args.env, sets=[*args.sets, "wandb.mode=disabled", f"n_envs={args.n_envs}"])
        venv = make_vector_env(cfg, cfg.n_envs)
        algo = build_algorithm(cfg, venv.spec)
        loop = make_loop(algo, venv, 0, name)
        for _ in range(6):  # warm up: for replay learners, fill enough episodes that every update learns
            loop.iterate(0)
        runner = EpisodeRunner(make_vector_env(cfg, cfg.n_envs), seed=0)
        setups[name] = (cfg, runner, algo, loop)
    env_kwargs = next(iter(setups.values()))[0].env.kwargs

    raw, rollout, train = [], [], {name: [] for name in setups}
    first = next(iter(setups.values()))
    for r in range(args.rounds):
        raw.append(raw_sps(args.env, env_kwargs, args.steps, seed=r))
        rollout.append(rollout_sps(first[1], first[2], args.steps))
        for name, (_, _, _, loop) in setups.items():
            train[name].append(train_sps(loop, args.steps))
        print(f"round {r + 1}: raw {raw[-1]:.0f}  rollout {rollout[-1]:.0f}  "
              + "  ".join(f"train[{n}] {v[-1]:.0f}" for n, v in train.items()), flush=True)

    result = {"env": args.env, "n_envs": args.n_envs, "raw_sps": round(statistics.median(raw), 1),
              "rollout_sps": round(statistics.median(rollout), 1)}
    result["rollout_ratio"] = round(result["rollout_sps"] / result["raw_sps"], 3)
    for name, values in train.items():
        key = "train_sps" if name == args.algos[0] else f"train_sps_{name}"
        result[key] = round(statistics.median(values), 1)
        result[key.replace("sps", "ratio")] = round(result[key] / result["raw_sps"], 3)
    print(f"raw {result['raw_sps']:.0f} steps/s; rollout {result['rollout_sps']:.0f} steps/s "
          f"({result['rollout_ratio']:.2f}x raw)")
    for name in train:
        key = "train_sps" if name == args.algos[0] else f"train_sps_{name}"
        print(f"{name} training {result[key]:.0f} steps/s ({result[key.replace('sps', 'ratio')]:.2f}x raw)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
