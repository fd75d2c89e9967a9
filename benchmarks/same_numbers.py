"""Do two code trees train the on-policy algorithms to the same numbers? For a speed change that must
not change what is computed.

    python benchmarks/same_numbers.py run /tmp/before     # in the old tree (MARLZOO_TREE / checkout)
    python benchmarks/same_numbers.py run /tmp/after      # in the new tree
    python benchmarks/same_numbers.py compare /tmp/before /tmp/after

``run`` trains each case below with ``marlzoo run`` (4,000 env steps of simple_spread, W&B off) into
``OUT/<case>``. ``compare`` checks, per case, that ``metrics.jsonl`` holds the same rows, every key
but ``time/*`` equal, and that the final checkpoint's algorithm state (weights, optimiser moments,
value normalisation) is equal tensor for tensor; it exits 1 if any case differs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import torch

CASES: dict[str, list[str]] = {
    "mappo": ["--algo", "mappo"],
    "ippo": ["--algo", "ippo"],
    "happo": ["--algo", "happo"],
    "ia2c": ["--algo", "ia2c"],
    "maa2c": ["--algo", "maa2c"],
    "mappo_fast": ["--algo", "mappo", "--config", "configs/fast/mappo_spread.yaml", "--set", "test_interval=2000",
                   "--set", "test_episodes=10"],
    "ippo_mb4": ["--algo", "ippo", "--set", "algo.minibatches=4", "--set", "algo.epochs=2"],
    "mappo_gru_mb2": ["--algo", "mappo", "--set", "algo.agent.kind=gru", "--set", "algo.critic.kind=gru",
                      "--set", "algo.minibatches=2"],
    "mappo_pz": ["--algo", "mappo", "--set", "env.backend=pettingzoo", "--set", "algo.minibatches=2"],
}
REPO = Path(__file__).resolve().parents[1]


def run(out: Path) -> None:
    for name, extra in CASES.items():
        subprocess.run([sys.executable, "-m", "marlzoo.cli", "run", "--env", "simple_spread", "--steps", "4000",
                        "--wandb", "disabled", "--no-progress", "--run-dir", str(out), "--run-id", name, *extra],
                       check=True, stdout=subprocess.DEVNULL, cwd=REPO)


def _rows(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")} for line in path.open()]


def _tensors(x: object, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(x, torch.Tensor):
        yield prefix, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _tensors(v, f"{prefix}/{i}")


def compare(a: Path, b: Path) -> bool:
    ok = True
    for name in CASES:
        rows_a, rows_b = _rows(a / name / "metrics.jsonl"), _rows(b / name / "metrics.jsonl")
        ta, tb = (dict(_tensors(torch.load(d / name / "checkpoint.pt", weights_only=True)["state"])) for d in (a, b))
        weights = ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
        same = rows_a == rows_b and weights
        ok &= same
        print(f"{name:16} metrics rows {len(rows_a)}/{len(rows_b)}, {len(ta)} state tensors: "
              f"{'identical' if same else 'DIFFERENT'}")
    print("all identical" if ok else "some differ")
    return ok


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        run(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(0 if compare(Path(sys.argv[2]), Path(sys.argv[3])) else 1)
    else:
        sys.exit(__doc__)
