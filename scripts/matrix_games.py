"""Regenerate results/matrix_games.md: what IQL, IDQN, VDN, QMIX, QTRAN, QPLEX and weighted QMIX learn on the matrix games.

    python scripts/matrix_games.py                    # every cell of configs/tables/matrix_games.yaml
    python scripts/matrix_games.py --workers 2        # two runs at a time

For each algorithm and game it trains every seed of the table spec (runs go to
runs/matrix_games/<algo>/<game>/seed<k>, each with its checkpoint, so ``marlzoo eval --run DIR
--qtable`` works on any of them; a run whose resolved config is unchanged is reused), then writes one
row per algorithm and game: the greedy joint action of each seed, its payoff (mean ± std over the
seeds), and seed 0's learned Q_i and Q_tot at the game's single state.

``marlzoo reproduce configs/tables/matrix_games.yaml`` runs the same cells and reports their greedy
payoffs, but keeps no checkpoints, so it cannot show the Q tables; once it can, it replaces this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from marlzoo.config import RunConfig, dump_config
from marlzoo.envs.catalogue import make_env
from marlzoo.training.evaluate import value_table_of_run
from marlzoo.bench.tables import Cell, TableSpec, load_table
from marlzoo.training.trainer import Trainer

REPO = Path(__file__).resolve().parent.parent
SPEC = "configs/tables/matrix_games.yaml"
COMMAND = "python scripts/matrix_games.py"


def train_cell(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Train one cell (or reuse its finished run) and read back its greedy action and value table."""
    torch.set_num_threads(1)
    config = dataclasses.replace(config, wandb=dataclasses.replace(config.wandb, mode="disabled"))
    resolved = dump_config(config)
    if not _finished_with(run_dir, resolved):
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        Trainer(config, run_dir, show_progress=False).train()
    info = json.loads((run_dir / "run.json").read_text())
    _, table, avail = value_table_of_run(run_dir)
    return {
        "greedy": table.greedy(avail),
        "payoff": info["final_metrics"]["test/return_mean"],
        "table": table.to_dict(avail),
        "contract": {k: info[k] for k in ("env_package", "env_version", "reward_aggregation", "episode_limit",
                                          "marlzoo_version", "git_commit")},
    }


def _finished_with(run_dir: Path, resolved: str) -> bool:
    try:
        info = json.loads((run_dir / "run.json").read_text())
        return (run_dir / "config.yaml").read_text() == resolved and info.get("status") == "finished" \
            and (run_dir / "checkpoint.pt").is_file()
    except (OSError, ValueError):
        return False


def run_all(spec: TableSpec, runs: Path, workers: int) -> dict[tuple[str, str, int], dict[str, Any]]:
    def run_dir(cell: Cell) -> Path:
        return runs / cell.algo / cell.env / f"seed{cell.seed}"

    results = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {(c.algo, c.env, c.seed): pool.submit(train_cell, c.config, run_dir(c)) for c in spec.cells}
        for key, future in futures.items():
            results[key] = future.result()
            print(f"{'/'.join(map(str, key))}: greedy {results[key]['greedy']} payoff {results[key]['payoff']:g}",
                  flush=True)
    return results


# ------------------------------------------------------------------------------ the markdown
def _matrix(rows: list[list[float | None]] | None) -> str:
    if rows is None:
        return "none (independent learners)"
    return "[" + ", ".join("[" + ", ".join("-" if v is None else f"{v:.1f}" for v in r) + "]" for r in rows) + "]"


def _display(label: str, name: str) -> str:
    """``cw_qmix`` -> ``CW-QMIX``; a variant's label, ``qtran_alt`` -> ``QTRAN-alt``: the algorithm in capitals, the variant as it is."""
    if label == name:
        return name.upper().replace("_", "-")
    return name.upper() + "-" + label.removeprefix(name).lstrip("_")


def _payoff(env_name: str, kwargs: dict) -> list[list[float]]:
    adapter = make_env(env_name, kwargs)
    try:
        return adapter.env.payoff.tolist()
    finally:
        adapter.close()


def render(spec: TableSpec, results: dict[tuple[str, str, int], dict[str, Any]]) -> str:
    first = next(iter(results.values()))["contract"]
    lines = [
        "# Matrix games: what each value factorisation can represent",
        "",
        f"Regenerate with `{COMMAND}` (the cells are those of `{SPEC}`; `marlzoo reproduce {SPEC}` runs the "
        "same cells and reports their payoffs, and will replace the script once it keeps checkpoints).",
        "",
        "Every game is one step from one constant state, so a policy is a joint action and the return of a greedy "
        "episode is that joint action's payoff. Each run trains for "
        f"{spec.steps} env steps (= episodes = updates) with uniform exploration (epsilon 1 throughout: every joint "
        "action equally often) and is then evaluated greedily. The recipe is in `configs/envs/<game>.yaml`: deep "
        "learners lr 0.01 and rewards not standardised, IQL alpha 0.05, everything else the defaults; "
        "`marlzoo run --algo qtran --env nonmonotonic --seed 0` trains one cell, and "
        "`marlzoo eval --run runs/matrix_games/qtran/nonmonotonic/seed0 --qtable` prints its tables.",
        "",
        "What the structure allows, whatever the training: VDN's Q_tot is a sum of Q_i, so it cannot rank "
        "(0, 0) first on `nonmonotonic` under uniform data (against a uniform partner action 0 averages "
        "-16/3, actions 1 and 2 average -4), and it fits no payoff with an interaction. QMIX's Q_tot is "
        "monotonic in each Q_i, so on `nonmonotonic` either Q_tot(0,1) >= Q_tot(1,1) or Q_tot(0,0) <= Q_tot(1,0): "
        "some entry is off by at least 6, though it may still rank (0, 0) first. QTRAN's Q_jt is "
        "unconstrained and the Q_i only have to share its argmax (QTRAN-alt, `algo.variant: alt`, holds "
        "each agent's deviations to that rather than only the joint action taken). QPLEX's Q_tot can rank joint actions "
        "in any order that keeps the agents' argmaxes its argmax (lambda_i(s, u) > 0 weighs each agent's advantage "
        "by the joint action), so it can represent `nonmonotonic`; whether it learns it from uniform data is what its "
        "row shows. CW-QMIX and OW-QMIX keep QMIX's monotonic Q_tot (shown) but fit it with weight 1 only where it "
        "matters (OW: where Q_tot underestimates the target; CW: at the greedy joint action and where the target beats "
        "Q* of it) and alpha = 0.1 elsewhere, to targets from an unrestricted Q*. Independent learners estimate each "
        "action's payoff averaged over the partner's uniform play.",
        "",
        f"Metric contract: return = sum over the one-step episode of the team reward = the payoff (reward aggregation "
        f"`{first['reward_aggregation']}` over agents); episode limit {first['episode_limit']}; envs from "
        f"`{first['env_package']}` {first['env_version']}; marlzoo {first['marlzoo_version']}, commit "
        f"`{(first['git_commit'] or 'unknown')[:12]}`; seeds {spec.seeds}.",
        "",
        "Columns: the greedy joint action (agent 0's action, agent 1's action) of each seed in order; the payoff of "
        "the greedy joint action, mean ± std (ddof 1) over the seeds; seed 0's learned Q_tot(u) (rows: agent 0's "
        "action, columns: agent 1's action; for QTRAN, Q_jt) and its Q_i(a) per agent. Independent learners "
        "(IQL, IDQN) learn no joint value.",
        "",
    ]
    for env in spec.envs:
        env_config = spec.cell(spec.algos[0].label, env.label, spec.seeds[0]).config.env
        payoff = _payoff(env_config.name, env_config.kwargs)
        best = max(max(r) for r in payoff)
        lines += [f"## {env.label}", "", f"Payoff {_matrix(payoff)}; optimum {best:g}.", "",
                  "| algorithm | greedy joint action per seed | payoff mean ± std | optimal seeds | Q_tot, seed 0 | Q_i, seed 0 |",
                  "|---|---|---|---|---|---|"]
        for algo in spec.algos:
            seeds = [results[(algo.label, env.label, s)] for s in spec.seeds]
            payoffs = [r["payoff"] for r in seeds]
            std = statistics.stdev(payoffs) if len(payoffs) > 1 else 0.0
            greedy = " ".join("(" + ",".join(map(str, r["greedy"])) + ")" for r in seeds)
            optimal = sum(p == best for p in payoffs)
            table = seeds[0]["table"]
            lines.append(f"| {_display(algo.label, algo.name)} | {greedy} | {statistics.mean(payoffs):.2f} ± {std:.2f} | "
                         f"{optimal}/{len(payoffs)} | {_matrix(table['joint_q'])} | {_matrix(table['agent_q'])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(REPO / SPEC), help="the table spec (default: %(default)s)")
    parser.add_argument("--runs", default=str(REPO / "runs" / "matrix_games"), help="where the runs go")
    parser.add_argument("--out", default=str(REPO / "results" / "matrix_games.md"))
    parser.add_argument("--workers", type=int, default=1, help="runs at a time")
    args = parser.parse_args(argv)
    spec = load_table(args.spec)
    results = run_all(spec, Path(args.runs), args.workers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(spec, results) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
