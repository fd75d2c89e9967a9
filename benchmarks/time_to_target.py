"""Time to target: the wall clock from the start of ``marlzoo run`` to its first greedy evaluation at
or above a target return, per seed and as the mean over seeds.

    python benchmarks/time_to_target.py                                   # MAPPO (fast config) and QMIX
    python benchmarks/time_to_target.py --algos mappo --seeds 3 4 5       # held-out seeds
    python benchmarks/time_to_target.py --algos qmix --set env.backend=pettingzoo

Each run is a real ``marlzoo run`` subprocess (the CLI, its config layers, its own evaluations, on
one torch thread), with ``--no-progress`` so that stderr carries one line per evaluation. The clock
starts just before the subprocess is spawned, so it includes Python's start-up and the imports, and
each evaluation is timed when its line arrives; the run's CPU time (user + system, from /proc) is
read at the same moment. ``metrics.jsonl`` is left alone: it holds no wall-clock field, by design.
A run stops as soon as it reaches its target (``--full`` lets it finish its budget instead); a run
that never reaches it reports its budget's wall clock as a lower bound (``>``).

The machine's load average is printed beside the figures: on a shared machine other processes
stretch the wall clock and not the CPU time. This is a benchmark: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from throughput import process_cpu_seconds  # run as a script: benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
# What each algorithm is timed with by default: its target, budget and config layers.
PRESETS: dict[str, dict] = {
    "mappo": {"target": -55.0, "steps": 300_000, "config": "configs/fast/mappo_spread.yaml", "sets": []},
    "qmix": {"target": -60.0, "steps": 300_000, "config": None, "sets": ["env.backend=vectorised"]},
}
TEST_LINE = re.compile(r"env steps\s+([\d,]+)\s+test return\s+(-?[\d.]+|nan)")


@dataclass
class Timing:
    """One run: each evaluation as (env steps, test return, wall s, CPU s), and when it hit the target."""

    algo: str
    seed: int
    evaluations: list[tuple[int, float, float, float]] = field(default_factory=list)
    hit: tuple[int, float, float, float] | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0


def time_run(algo: str, env: str, seed: int, target: float, steps: int, config: str | None, sets: list[str],
             full: bool) -> Timing:
    """Run ``marlzoo run`` once and time its evaluations (see the module docstring)."""
    timing = Timing(algo, seed)
    with tempfile.TemporaryDirectory(prefix="ttt-") as run_dir:
        cmd = [sys.executable, "-m", "marlzoo.cli", "run", "--algo", algo, "--env", env, "--seed", str(seed),
               "--steps", str(steps), "--run-dir", run_dir, "--wandb", "disabled", "--no-progress"]
        if config:
            cmd += ["--config", str(REPO / config)]
        for s in sets:
            cmd += ["--set", s]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
        cpu = 0.0
        assert proc.stderr is not None
        for line in proc.stderr:
            match = TEST_LINE.search(line)
            if not match:
                if "error" in line.lower() or "Traceback" in line:
                    sys.stderr.write(line)
                continue
            now = time.perf_counter() - start
            try:
                cpu = process_cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
            row = (int(match.group(1).replace(",", "")), float(match.group(2)), now, cpu)
            timing.evaluations.append(row)
            if timing.hit is None and row[1] >= target:
                timing.hit = row
                if not full:
                    proc.terminate()
                    break
        proc.wait()
        timing.wall_s, timing.cpu_s = time.perf_counter() - start, cpu
    # terminated at the target: -15, or 143 (128 + SIGTERM) from the trainer's graceful stop after its checkpoint
    if proc.returncode not in (0, -15, 143) or not timing.evaluations:
        raise SystemExit(f"marlzoo run failed for {algo} seed {seed} (exit {proc.returncode}): {' '.join(cmd)}")
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, help="override the preset target return")
    parser.add_argument("--steps", type=int, help="override the preset budget")
    parser.add_argument("--config", help="override the preset --config file ('none' for no file)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to marlzoo run, after the preset's own")
    parser.add_argument("--full", action="store_true", help="let each run finish its budget")
    args = parser.parse_args()

    summary = {}
    for algo in args.algos:
        preset = PRESETS[algo]
        target = preset["target"] if args.target is None else args.target
        steps = args.steps or preset["steps"]
        config = preset["config"] if args.config is None else (None if args.config == "none" else args.config)
        sets = [*preset["sets"], *args.sets]
        shown = " ".join([f"--config {config}" if config else "", *(f"--set {s}" for s in sets)]).strip()
        print(f"{algo} on {args.env} to {target:g}: marlzoo run --algo {algo} --env {args.env} {shown}")
        hits, cpus = [], []
        for seed in args.seeds:
            load = os.getloadavg()[0]
            t = time_run(algo, args.env, seed, target, steps, config, sets, args.full)
            if t.hit:
                hits.append(t.hit[2])
                cpus.append(t.hit[3])
                print(f"  seed {seed}: {t.hit[2]:6.1f} s wall, {t.hit[3]:6.1f} s CPU, at {t.hit[0]:>9,} env steps "
                      f"(test return {t.hit[1]:.2f}); load average {load:.1f}")
            else:
                best = max(e[1] for e in t.evaluations)
                print(f"  seed {seed}: > {t.wall_s:6.1f} s wall, {t.cpu_s:6.1f} s CPU: not reached in {steps:,} "
                      f"env steps (best test return {best:.2f}); load average {load:.1f}")
                hits.append(float("inf"))
                cpus.append(float("inf"))
        mean_wall, mean_cpu = statistics.fmean(hits), statistics.fmean(cpus)
        print(f"  mean over {len(args.seeds)} seeds: {mean_wall:.1f} s wall, {mean_cpu:.1f} s CPU")
        summary[algo] = {"target": target, "seeds": args.seeds, "wall_s": [round(h, 1) for h in hits],
                         "cpu_s": [round(c, 1) for c in cpus], "mean_wall_s": round(mean_wall, 1),
                         "mean_cpu_s": round(mean_cpu, 1), "load_average_1min": round(os.getloadavg()[0], 1)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
