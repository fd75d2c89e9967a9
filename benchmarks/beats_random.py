"""Does an algorithm beat random play? Train it, then score its greedy policy beside random play.

    python benchmarks/beats_random.py --algo coma                          # simple_spread, 50k steps, seed 0
    python benchmarks/beats_random.py --algo qplex --seeds 0 1 2 --steps 50000
    python benchmarks/beats_random.py --algo mappo --env lbforaging:Foraging-8x8-2p-2f-coop-v3 \\
        --steps 300000 --margin 0.04 --set n_envs=10 --set algo.rollout_length=50

Each seed trains one run with ``marlzoo run`` (W&B disabled, one evaluation at the end), then plays
``--episodes`` greedy episodes of its checkpoint and as many uniformly random ones, on the same env
copies seeded the same way (seed ``EVAL_SEED``). It prints one markdown row per seed and a last
line of JSON. With ``--margin M`` it exits 1 unless every seed's greedy mean beats random play's by
more than M. This is a benchmark, not a test: its runs are minutes long, so they stay out of CI;
the figures it prints are recorded in ``results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from marlzoo.cli import main as marlzoo_main
from marlzoo.training.evaluate import evaluate_run, random_returns

EVAL_SEED = 777


def run_seed(algo: str, env: str, steps: int, seed: int, episodes: int, overrides: list[str], root: Path) -> dict:
    """Train one seed in ``root`` and return its greedy and random means."""
    run_id = f"{algo}-seed{seed}"
    args = ["run", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed),
            "--wandb", "disabled", "--no-progress", "--set", f"test_interval={steps}",
            "--set", "test_episodes=8", "--run-dir", str(root), "--run-id", run_id]
    for item in overrides:
        args += ["--set", item]
    start = time.perf_counter()
    code = marlzoo_main(args)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"beats_random: marlzoo run exited {code} for {algo} seed {seed}")
    learned = float(evaluate_run(root / run_id, episodes, seed=EVAL_SEED).mean())
    return {"algo": algo, "env": env, "steps": steps, "seed": seed, "learned": learned,
            "random": float(random_returns(root / run_id, episodes, seed=EVAL_SEED).mean()), "train_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", required=True)
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=100, help="greedy and random episodes scored per seed")
    parser.add_argument("--margin", type=float, default=None, help="exit 1 unless learned - random > MARGIN on every seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("| algo | env | steps | seed | greedy | random | margin | train s |")
        print("|---|---|---|---|---|---|---|---|")
        for seed in args.seeds:
            row = run_seed(args.algo, args.env, args.steps, seed, args.episodes, args.overrides, Path(tmp))
            rows.append(row)
            print(f"| {row['algo']} | {row['env']} | {row['steps']} | {seed} | {row['learned']:.2f} | "
                  f"{row['random']:.2f} | {row['learned'] - row['random']:+.2f} | {row['train_seconds']} |", flush=True)
    print(json.dumps({"rows": rows, "overrides": args.overrides, "margin": args.margin}))
    if args.margin is not None and any(r["learned"] - r["random"] <= args.margin for r in rows):
        print(f"beats_random: some seed did not beat random play by more than {args.margin}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
