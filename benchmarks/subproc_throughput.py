"""Training speed with the env copies in worker processes (env.n_workers) beside the same training in one process.

    python benchmarks/subproc_throughput.py                              # MAPPO on multiwalker, 2 workers
    python benchmarks/subproc_throughput.py --env pistonball --steps 1000
    python benchmarks/subproc_throughput.py --algo qmix --env simple_spread  # where workers do not pay

Both setups are built in this process and trained in alternating rounds (in-process, workers,
in-process, ...), so a drift in the host's speed hits both. Each round prints, per setup: wall-clock
steps/s, the CPU seconds used (this process, and each worker from /proc), and the load average.

On a machine shared with other work the wall clock favours the workers: three runnable processes get
a larger share of a contended CPU than one. So a second ratio is printed that does not depend on the
load: the *critical path* in CPU time. The parent and its workers take turns (the parent acts while
the workers wait, then the workers step at the same time while the parent waits), so on free cores a
run with workers would take about ``parent CPU + the busiest worker's CPU``, against the in-process
run's own CPU time. On idle cores the two ratios agree. The last line printed is one JSON object.
This is a benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from marlzoo.config import load_config
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process ``pid``, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Setup:
    """One training run's env, algorithm and loop, kept alive across rounds."""

    def __init__(self, algo: str, env: str, workers: int, n_envs: int, sets: list[str]) -> None:
        self.workers = workers
        cfg = load_config(algo, env, sets=[*sets, "wandb.mode=disabled", f"n_envs={n_envs}",
                                           f"env.n_workers={workers}"])
        self.venv = make_vector_env(cfg, cfg.n_envs)
        self.loop = make_loop(build_algorithm(cfg, self.venv.spec), self.venv, 0, algo, cfg.learner)
        self.t_env = self.loop.iterate(0).steps  # warm-up: first calls, first update

    def pids(self) -> list[int]:
        return list(getattr(self.venv, "worker_pids", []))

    def round(self, steps: int) -> dict:
        """Train ``steps`` more env steps; wall clock, CPU seconds and load around them."""
        load, pids = os.getloadavg()[0], self.pids()
        workers_before = [cpu_seconds(p) for p in pids]
        wall, cpu = time.perf_counter(), time.process_time()
        start = self.t_env
        while self.t_env - start < steps:
            self.t_env += self.loop.iterate(self.t_env).steps
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        workers = [cpu_seconds(p) - b for p, b in zip(pids, workers_before)]
        done = self.t_env - start
        return {"steps": done, "wall_s": wall, "sps": done / wall, "parent_cpu_s": cpu, "worker_cpu_s": workers,
                "critical_cpu_s": cpu + max(workers, default=0.0), "load_1min": (load + os.getloadavg()[0]) / 2}

    def close(self) -> None:
        self.loop.close()
        self.venv.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="mappo")
    parser.add_argument("--env", default="multiwalker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000, help="env steps per setup per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)

    setups = [Setup(args.algo, args.env, w, args.n_envs, args.sets) for w in (0, args.workers)]
    rounds: list[list[dict]] = []
    try:
        print(f"{args.algo} on {args.env}, {args.n_envs} copies, {args.steps} env steps per phase, "
              f"{os.cpu_count()} CPUs")
        for r in range(args.rounds):
            rounds.append([s.round(args.steps) for s in setups])
            inproc, sub = rounds[-1]
            print(f"round {r + 1}: in-process {inproc['sps']:7.0f} steps/s (cpu {inproc['parent_cpu_s']:.1f}s, "
                  f"load {inproc['load_1min']:.1f}) | {args.workers} workers {sub['sps']:7.0f} steps/s (parent cpu "
                  f"{sub['parent_cpu_s']:.1f}s, workers {', '.join(f'{c:.1f}' for c in sub['worker_cpu_s'])}s, "
                  f"load {sub['load_1min']:.1f}) | wall x{sub['sps'] / inproc['sps']:.2f}, critical-path x"
                  f"{inproc['parent_cpu_s'] / sub['critical_cpu_s'] * sub['steps'] / inproc['steps']:.2f}", flush=True)
    finally:
        for s in setups:
            s.close()
    wall = [sub["sps"] / inproc["sps"] for inproc, sub in rounds]
    critical = [inproc["parent_cpu_s"] / sub["critical_cpu_s"] * sub["steps"] / inproc["steps"] for inproc, sub in rounds]
    summary = {"algo": args.algo, "env": args.env, "workers": args.workers, "n_envs": args.n_envs,
               "steps_per_round": args.steps, "wall_ratio_median": statistics.median(wall),
               "critical_path_ratio_median": statistics.median(critical),
               "load_1min_median": statistics.median(x["load_1min"] for rnd in rounds for x in rnd), "rounds": rounds}
    print(f"median over {len(rounds)} rounds: wall-clock x{summary['wall_ratio_median']:.2f}, "
          f"CPU critical path x{summary['critical_path_ratio_median']:.2f} (load {summary['load_1min_median']:.1f})")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
