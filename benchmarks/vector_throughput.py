"""The vectorised MPE alone, random actions, as a ratio to raw mpe2 through PettingZoo's parallel API.

    python benchmarks/vector_throughput.py                          # simple_spread, B = 16, 64, 256
    python benchmarks/vector_throughput.py --env simple_reference --set env.kwargs.continuous_actions=true

Raw mpe2 is measured as ``benchmarks/throughput.py`` measures it (one ``parallel_env``, one
``action_space.sample()`` per agent per step, seeded resets). The vectorised backend
(``env.backend=vectorised``) steps B copies at once with random legal actions drawn for the whole
batch, and resets the copies that finished with ``reset_where``, as the rollout runner does. A step
of B copies counts B env steps. Raw and vectorised phases alternate in rounds; each figure is the
best over rounds, and the ratio column is the median over rounds of each round's ratio to that
round's raw figure; the CPU column divides by this process's CPU time instead of the wall clock
(other load on a shared machine stretches the one and not the other). The last line printed is one
JSON object. This is a benchmark: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Callable

import numpy as np

from throughput import raw_env_steps, timed  # run as a script: benchmarks/ is on sys.path
from marlzoo.config import load_config
from marlzoo.training.trainer import make_vector_env


def vectorised_steps(venv, steps: int, seed: int) -> Callable[[], int]:
    """``steps`` env steps (at least) of ``venv``, random legal actions for every copy, finished copies reset."""
    rng = np.random.default_rng(seed)
    spec = venv.spec
    everyone = np.ones(venv.n, dtype=bool)
    venv.reset([seed + i for i in range(venv.n)])

    def work() -> int:
        n = 0
        while n < steps:
            if spec.action_kind == "continuous":
                actions = rng.random((venv.n, spec.n_agents, spec.n_actions), dtype=np.float32)
            else:
                scores = rng.random(venv.avail.shape)
                scores[~venv.avail] = -1.0
                actions = scores.argmax(axis=-1)
            venv.step(actions, everyone)
            n += venv.n
            ended = venv.terminated | venv.truncated
            if ended.any():
                venv.reset_where(ended)
        return n

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256], help="copies stepped together")
    parser.add_argument("--raw-steps", type=int, default=5000, help="raw env steps per round")
    parser.add_argument("--steps", type=int, default=200_000, help="vectorised env steps per round and batch size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    cfg = load_config("random", args.env, sets=[*args.sets, "env.backend=vectorised", "wandb.mode=disabled"])
    raw = raw_env_steps(cfg.env.name, cfg.env.kwargs, args.raw_steps, seed=0)
    phases = {b: vectorised_steps(make_vector_env(cfg, b), args.steps, seed=b) for b in args.batch}
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    ratios: dict[int, list[float]] = {b: [] for b in args.batch}
    for _ in range(args.rounds):
        raw_sps, raw_cpu = timed(raw)
        best["raw"], cpu["raw"] = max(best.get("raw", 0.0), raw_sps), max(cpu.get("raw", 0.0), raw_cpu)
        for b, work in phases.items():
            sps, cpu_sps = timed(work)
            best[f"B={b}"], cpu[f"B={b}"] = max(best.get(f"B={b}", 0.0), sps), max(cpu.get(f"B={b}", 0.0), cpu_sps)
            ratios[b].append(sps / raw_sps)
    kind = "continuous" if cfg.env.kwargs.get("continuous_actions") else "discrete"
    print(f"{args.env} ({kind} actions), env steps/s, best of {args.rounds} rounds:  wall clock, x raw | CPU time")
    print(f"  raw mpe2 (parallel API)   {best['raw']:>10,.0f}             | {cpu['raw']:>10,.0f}")
    for b in args.batch:
        print(f"  vectorised, B = {b:<4}      {best[f'B={b}']:>10,.0f}  {statistics.median(ratios[b]):6.1f}x raw"
              f" | {cpu[f'B={b}']:>10,.0f}")
    print(json.dumps({"env": args.env, "actions": kind, "raw_sps": round(best["raw"]), "raw_cpu_sps": round(cpu["raw"]),
                      **{f"vectorised_cpu_sps_B{b}": round(cpu[f"B={b}"]) for b in args.batch},
                      **{f"vectorised_sps_B{b}": round(best[f"B={b}"]) for b in args.batch},
                      **{f"ratio_B{b}": round(statistics.median(ratios[b]), 1) for b in args.batch}}))


if __name__ == "__main__":
    main()
