"""The vectorised MPE and VMAS alone, random actions, as ratios to raw mpe2 through PettingZoo's parallel API.

    python benchmarks/vector_throughput.py                          # simple_spread, B = 16, 64, 256
    python benchmarks/vector_throughput.py --env simple_reference --set env.kwargs.continuous_actions=true
    python benchmarks/vector_throughput.py --vmas navigation simple_spread   # VMAS beside them (pip install 'marlzoo[vmas]')

Raw mpe2 is measured as ``benchmarks/throughput.py`` measures it (one ``parallel_env``, one
``action_space.sample()`` per agent per step, seeded resets). The vectorised backend
(``env.backend=vectorised``) steps B copies at once with random legal actions drawn for the whole
batch, and resets the copies that finished with ``reset_where``, as the rollout runner does. A step
of B copies counts B env steps. ``--vmas`` adds VMAS scenarios (``vmas:<scenario>``, marlzoo's VMAS
backend, torch on one thread), stepped the same way with the same action kind; VMAS's
``simple_spread`` is VMAS's port, not mpe2, and is run with mpe2's 25-step episodes, the others with
the backend's default of 100. Raw and vectorised phases alternate in rounds; each figure is the
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
import torch

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
    parser.add_argument("--vmas", nargs="*", default=[], metavar="SCENARIO", help="VMAS scenarios to run beside them")
    parser.add_argument("--vmas-steps", type=int, default=20_000, help="VMAS env steps per round, scenario and batch size")
    args = parser.parse_args()

    cfg = load_config("random", args.env, sets=[*args.sets, "env.backend=vectorised", "wandb.mode=disabled"])
    torch.set_num_threads(cfg.torch_threads)
    raw = raw_env_steps(cfg.env.name, cfg.env.kwargs, args.raw_steps, seed=0)
    # label -> (its JSON keys' prefix and suffix, the work)
    phases = {f"vectorised, B = {b:<4}": (("vectorised", f"B{b}"), vectorised_steps(make_vector_env(cfg, b), args.steps, b))
              for b in args.batch}
    continuous = bool(cfg.env.kwargs.get("continuous_actions"))
    for scenario in args.vmas:
        sets = [f"env.kwargs.continuous_actions={str(continuous).lower()}", "wandb.mode=disabled"]
        if scenario == "simple_spread":
            sets.append(f"env.kwargs.max_steps={cfg.env.kwargs.get('max_cycles', 25)}")
        vmas_cfg = load_config("random", f"vmas:{scenario}", sets=sets)
        for b in args.batch:
            work = vectorised_steps(make_vector_env(vmas_cfg, b), args.vmas_steps, b)
            phases[f"VMAS {scenario}, B = {b:<4}"] = ((f"vmas_{scenario}", f"B{b}"), work)
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    ratios: dict[str, list[float]] = {label: [] for label in phases}
    for _ in range(args.rounds):
        raw_sps, raw_cpu = timed(raw)
        best["raw"], cpu["raw"] = max(best.get("raw", 0.0), raw_sps), max(cpu.get("raw", 0.0), raw_cpu)
        for label, (_, work) in phases.items():
            sps, cpu_sps = timed(work)
            best[label], cpu[label] = max(best.get(label, 0.0), sps), max(cpu.get(label, 0.0), cpu_sps)
            ratios[label].append(sps / raw_sps)
    kind = "continuous" if continuous else "discrete"
    width = max(26, *(len(label) + 2 for label in phases))
    print(f"{args.env} ({kind} actions), env steps/s, best of {args.rounds} rounds:  wall clock, x raw | CPU time")
    print(f"  {'raw mpe2 (parallel API)':<{width}}{best['raw']:>10,.0f}             | {cpu['raw']:>10,.0f}")
    for label in phases:
        print(f"  {label:<{width}}{best[label]:>10,.0f}  {statistics.median(ratios[label]):6.1f}x raw"
              f" | {cpu[label]:>10,.0f}")
    out = {"env": args.env, "actions": kind, "raw_sps": round(best["raw"]), "raw_cpu_sps": round(cpu["raw"])}
    for label, ((name, b), _) in phases.items():
        ratio = "ratio" if name == "vectorised" else f"ratio_{name}"
        out.update({f"{name}_cpu_sps_{b}": round(cpu[label]), f"{name}_sps_{b}": round(best[label]),
                    f"{ratio}_{b}": round(statistics.median(ratios[label]), 1)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
