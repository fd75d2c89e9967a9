"""Rerun cached table cells on the current code and check they write the same metrics.

A refactor that should not change results proves it here: each cell directory under
``results/runs/<table>/<algo>/<env>/seed<k>/`` holds the ``config.yaml`` that produced its
``metrics.jsonl``. This trains that config again in a temporary directory and compares the rows,
every key but ``time/*`` (metrics.jsonl holds none). With ``--steps N`` (below the cell's budget)
it trains only N env steps and compares the rows logged before N; the final row of a shorter run
differs by design (it is the run's last evaluation), so it is left out.

    python benchmarks/rerun_cells.py results/runs/qlearning_mpe/qmix/simple_spread/seed0
    python benchmarks/rerun_cells.py results/runs/ctde_multiwalker/mappo/multiwalker/seed0 --steps 30000
    python benchmarks/rerun_cells.py $(ls -d results/runs/mpe/*/simple_spread/seed0) --workers 2

Exit code 0 when every cell is identical, 1 otherwise.

Float results repeat bit for bit on the same kind of CPU only: the committed cells ran on an Intel
Xeon, and the same code on an AMD EPYC differs in the sixth digit of the first loss. To check a
change on another machine, write reference cells with the old code first (a checkout of the old
commit, same command) and compare against those. ``--drop algo.KEY`` removes a config key that the
current code no longer has (it must not have mattered, or the rows will differ).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from marlzoo.bench.runs import metric_rows
from marlzoo.config import build_run_config, merge, read_yaml
from marlzoo.training.trainer import Trainer


def load_cell_config(cell_dir: Path, drop: list[str]):
    data = read_yaml(cell_dir / "config.yaml")
    for dotted in drop:
        *sections, key = dotted.split(".")
        holder = data
        for name in sections:
            holder = holder.get(name, {})
        holder.pop(key, None)
    return build_run_config(*merge([(data, str(cell_dir / "config.yaml"))]))


def rerun(cell: str, steps: int | None, drop: list[str]) -> tuple[str, bool, str]:
    """Train the cell's config again; ``(cell, identical, what was compared)``."""
    cell_dir = Path(cell)
    config = load_cell_config(cell_dir, drop)
    budget = config.steps
    if steps is not None and steps < budget:
        config.steps = steps
    with tempfile.TemporaryDirectory(prefix="rerun-") as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        config.wandb.mode = "disabled"
        Trainer(config, run_dir, show_progress=False).train()
        new = metric_rows(run_dir / "metrics.jsonl")
    old = metric_rows(cell_dir / "metrics.jsonl")
    if config.steps < budget:
        new = new[:-1]
        old = [r for r in old if r["env_steps"] <= new[-1]["env_steps"]] if new else []
        what = f"{len(new)} rows before env step {config.steps} of {budget}"
    else:
        what = f"all {len(old)} rows, {budget} env steps"
    return cell, new == old, what


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cells", nargs="+", help="cell directories (each with config.yaml and metrics.jsonl)")
    parser.add_argument("--steps", type=int, help="train only this many env steps and compare the rows before them")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--drop", action="append", default=[], metavar="KEY",
                        help="a dotted config key to remove before training (repeatable)")
    args = parser.parse_args()
    identical = True
    with ProcessPoolExecutor(args.workers) as pool:
        for cell, same, what in pool.map(rerun, args.cells, [args.steps] * len(args.cells), [args.drop] * len(args.cells)):
            identical &= same
            print(f"{'IDENTICAL' if same else 'DIFFERENT'}  {cell}  ({what})", flush=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
