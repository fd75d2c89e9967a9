"""Soak test of resume: a long run killed with SIGKILL at random moments, resumed each time, must end
with the metrics.jsonl of the same run left alone.

    python benchmarks/soak_resume.py                                   # QMIX, simple_spread, 1M steps, 5 kills
    python benchmarks/soak_resume.py --steps 60000 --kills 5 --report results/soak_resume.md
    python benchmarks/soak_resume.py --algo mappo --steps 200000 --kills 8 --set learner=inline

It trains the run twice with ``marlzoo run`` in subprocesses (W&B disabled), in a temporary
directory unless ``--dir`` is given:

* ``whole``: from start to end, untouched;
* ``killed``: killed with SIGKILL ``--kills`` times, at env steps drawn uniformly from the first 95% of the budget
  (``--kill-seed``), each after a random extra 0-2 s so that kills land anywhere in an iteration,
  an evaluation or a checkpoint write. After each kill it is resumed with ``marlzoo run --resume``.

A kill that would fall before the run's first checkpoint waits for it (there is nothing to resume
before); one drawn so late that the run finishes first does not happen (the report counts the
kills made). At the end the two metrics.jsonl files must be equal row for row, every key but ``time/*``.
It prints a markdown report (and writes it to ``--report``), and exits 1 if they differ. This is a
benchmark, not a test: at its default budget it runs for hours on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def untimed(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
            for line in path.read_text().splitlines()]


def progress_of(run_dir: Path) -> tuple[int, bool]:
    """The env steps run.json last reported, and whether a checkpoint exists."""
    try:
        steps = int(json.loads((run_dir / "run.json").read_text()).get("env_steps", 0))
    except (OSError, ValueError):
        steps = 0
    return steps, (run_dir / "checkpoint.pt").is_file()


def marlzoo(*args: str) -> list[str]:
    return [sys.executable, "-m", "marlzoo.cli", *args]


def run_to_end(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"soak: {' '.join(cmd)} failed:\n{result.stderr}")
    return time.perf_counter() - start


def kill_at(cmd: list[str], run_dir: Path, target: int, rng: random.Random) -> dict | None:
    """Start ``cmd``; once run.json reports ``target`` env steps and a checkpoint exists, wait a
    random 0-2 s and SIGKILL it. Returns where it was killed and where its checkpoint stood (None
    if the run finished before)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    start = time.perf_counter()
    while True:
        if proc.poll() is not None:
            if proc.returncode != 0:
                sys.exit(f"soak: the run failed before its kill at {target}: {proc.stderr.read()}")
            return None  # it finished first
        steps, has_checkpoint = progress_of(run_dir)
        if steps >= target and has_checkpoint:
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.0))
    if proc.poll() is not None:
        return None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    steps, _ = progress_of(run_dir)
    import torch  # only here: the driver itself needs no torch until it reads a checkpoint

    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True, map_location="cpu")["env_steps"]
    status = json.loads((run_dir / "run.json").read_text())["status"]
    return {"target": target, "killed_after": steps, "checkpoint": int(checkpoint), "status": status,
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="qmix")
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dir", help="where the two runs go (default: a temporary directory)")
    parser.add_argument("--report", help="also write the markdown report to this file")
    args = parser.parse_args()

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="soak-"))
    common = ["--algo", args.algo, "--env", args.env, "--steps", str(args.steps), "--seed", str(args.seed),
              "--wandb", "disabled", "--no-progress", "--run-dir", str(root)]
    for item in args.sets:
        common += ["--set", item]
    rng = random.Random(args.kill_seed)
    targets = sorted(rng.randrange(1, args.steps * 19 // 20) for _ in range(args.kills))  # before the end

    whole_s = run_to_end(marlzoo("run", *common, "--run-id", "whole"))
    killed = root / "killed"
    kills, start, finished = [], time.perf_counter(), False
    for k, target in enumerate(targets):
        cmd = marlzoo("run", *common, "--run-id", "killed") if k == 0 else marlzoo("run", "--resume", str(killed),
                                                                                    "--no-progress")
        kill = kill_at(cmd, killed, target, rng)
        if kill is None:
            print(f"the run finished before kill {k + 1}", flush=True)
            finished = True
            break
        kills.append(kill)
        if kill["status"] == "finished":  # killed on its way out, after it wrote its last file
            print(f"kill {k + 1}: after the run finished", flush=True)
            finished = True
            break
        print(f"kill {k + 1}: at about env step {kill['killed_after']:,}, resuming from {kill['checkpoint']:,}",
              flush=True)
    if not finished:
        run_to_end(marlzoo("run", "--resume", str(killed), "--no-progress"))
    killed_s = time.perf_counter() - start

    a, b = untimed(root / "whole" / "metrics.jsonl"), untimed(killed / "metrics.jsonl")
    same = a == b
    info = json.loads((killed / "run.json").read_text())
    extra = " ".join(f"--set {s}" for s in args.sets)
    lines = [
        f"## Resume soak: {args.algo} on {args.env}, {args.steps:,} env steps, {len(kills)} SIGKILLs",
        "",
        f"`python benchmarks/soak_resume.py --algo {args.algo} --env {args.env} --steps {args.steps} "
        f"--seed {args.seed} --kills {args.kills} --kill-seed {args.kill_seed}{' ' + extra if extra else ''}`",
        "",
        "| kill | run.json said (env steps) | resumed from checkpoint at |",
        "|---:|---:|---:|",
        *[f"| {i + 1} | {k['killed_after']:,} | "
          f"{'(killed after it finished)' if k['status'] == 'finished' else format(k['checkpoint'], ',')} |"
          for i, k in enumerate(kills)],
        "",
        f"- metrics.jsonl rows: unbroken {len(a)}, killed and resumed {len(b)}; identical (every key but time/*): "
        f"**{'yes' if same else 'NO'}**",
        f"- status at the end: {info['status']}, resumed {len(info.get('resumed', []))} times",
        f"- wall clock: unbroken {whole_s:.0f} s; killed and resumed {killed_s:.0f} s in all",
        f"- checkpoint at the end: {(killed / 'checkpoint.pt').stat().st_size / 1e6:.1f} MB (the replay buffer "
        f"included)",
        f"- runs in {root}",
    ]
    if not same:
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        lines.append(f"- first differing row: {first} (env steps {a[first]['env_steps'] if first < len(a) else '-'})")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.report:
        Path(args.report).write_text(report)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
