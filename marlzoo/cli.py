"""The ``marlzoo`` command: ``run``, ``eval``, ``list``, ``reproduce``, ``plot`` and ``compare``.

Bad input (a :class:`UserError`) is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Sequence

from marlzoo import __version__
from marlzoo.errors import TRACEBACK_VARIABLE, RunInterrupted, UserError

RENDER_EPISODES = 3  # what `marlzoo eval --render` plays when --episodes is not given


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train an algorithm on an env", description="Train an algorithm on an env.")
    p.add_argument("--algo", help="algorithm name (see `marlzoo list`)")
    p.add_argument("--env", help="env name (see `marlzoo list`), package.module:factory, or module:GymnasiumId "
                   "(lbforaging:Foraging-8x8-2p-2f-coop-v3)")
    p.add_argument("--config", help="a YAML file layered over the defaults")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set algo.lr=0.001 (repeatable)")
    p.add_argument("--steps", type=int, help="env steps to train for")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--run-dir", default="runs", help="parent directory of the run (default: runs)")
    p.add_argument("--run-id", help="name of the run directory (default: algo-env-seed-time)")
    p.add_argument("--wandb", choices=["auto", "online", "offline", "disabled"],
                   help="Weights & Biases mode (default: auto = online with credentials, else offline)")
    p.add_argument("--no-progress", action="store_true",
                   help="no live progress bar, only a line per evaluation (output that is not a terminal "
                        "gets plain lines anyway)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to TensorBoard, in <run>/tensorboard/ (pip install 'marlzoo[tensorboard]')")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="go on with a killed or interrupted run from its last checkpoint, to its --steps or a larger "
                        "--steps given here (its config is the run's own: no --algo, --env, --config, --set, --seed)")


RESUME_CONFLICTS = ("algo", "env", "config", "seed", "run_id")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="run greedy episodes of a trained run", description="Evaluate a run's checkpoint greedily.")
    p.add_argument("--run", required=True, help="the run directory, e.g. runs/<run_id>")
    p.add_argument("--episodes", type=int, help=f"greedy episodes (default: 100, or {RENDER_EPISODES} with --render)")
    p.add_argument("--checkpoint", help="a checkpoint other than <run>/checkpoint.pt: a path, or the env step of one "
                   "kept in <run>/checkpoints/ (keep_checkpoints: K), e.g. --checkpoint 20000")
    p.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the run's config for this evaluation, e.g. --set env.backend=pettingzoo "
                        "(play on the other backend) or --set env.kwargs.max_cycles=50; repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--qtable", action="store_true",
                   help="also print the learned Q_i and Q_tot of every joint action (value-based algorithms, "
                        "single-state envs such as the matrix games)")
    p.add_argument("--render", metavar="FILE",
                   help="also write the greedy episodes, one after another, to FILE: an animated .gif, or an .mp4 "
                        "with pip install 'marlzoo[render]' (envs with an rgb_array render mode)")


def _cmd_run(args: argparse.Namespace) -> int:
    from marlzoo.api import resume, train

    progress = "evaluations" if args.no_progress else True
    if args.resume is not None:
        given = [f"--{k.replace('_', '-')}" for k in RESUME_CONFLICTS if getattr(args, k) is not None]
        given += ["--set"] if args.sets else []
        if given:
            raise UserError(f"--resume goes on with the run's own config; drop {', '.join(given)} (only --steps, "
                            "--wandb, --no-progress and --tensorboard go with it)")
        if not Path(args.resume).is_dir():  # said here, since the library's own message names eval's --run
            raise UserError(f"run directory {args.resume} does not exist; pass a directory under runs/ "
                            "(for example --resume runs/<run_id>)")
        info = resume(args.resume, steps=args.steps, wandb=args.wandb, progress=progress, tensorboard=args.tensorboard)
    else:
        info = train(args.algo, args.env, steps=args.steps, seed=args.seed, sets=args.sets, config_file=args.config,
                     run_dir=args.run_dir, run_id=args.run_id, wandb=args.wandb, progress=progress,
                     tensorboard=args.tensorboard)
    final = info.get("final_metrics", {})
    print(f"run {info['run_dir']}: {info['env_steps']} env steps in {info['wall_clock_s']:.0f} s "
          f"({info['sps']:.0f} steps/s); final test return {final.get('test/return_mean', float('nan')):.2f}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from marlzoo.training.animation import animation_writer
    from marlzoo.training.evaluate import evaluate_run, render_run, value_table_of_run
    from marlzoo.learning.qtable import format_value_table

    from marlzoo.training.checkpoint import find_checkpoint

    checkpoint = find_checkpoint(Path(args.run), args.checkpoint) if args.checkpoint else None
    writer = animation_writer(args.render) if args.render else None  # a bad file name fails before anything runs
    episodes = args.episodes if args.episodes is not None else (RENDER_EPISODES if writer else 100)
    table = value_table_of_run(Path(args.run), checkpoint) if args.qtable else None
    if writer is None:
        returns, rendering = evaluate_run(Path(args.run), episodes, checkpoint, args.seed, args.sets), None
    else:
        returns, rendering = render_run(Path(args.run), writer, episodes, checkpoint, args.seed, args.sets)
    result = {"return_mean": float(returns.mean()), "return_std": float(returns.std()), "episodes": int(len(returns))}
    if table is not None:
        spec, values, avail = table
        result["qtable"] = values.to_dict(avail)
    if rendering is not None:
        result["render"] = {"path": str(rendering.path), "frames": rendering.frames, "fps": rendering.fps}
    if args.json:
        print(json.dumps(result))
    else:
        if table is not None:
            print(format_value_table(values, spec.agents, avail))
        print(f"{args.run}: return {result['return_mean']:.2f} ± {result['return_std']:.2f} over {result['episodes']} greedy episodes")
        if rendering is not None:
            print(f"wrote {rendering.path}: {rendering.frames} frames of {rendering.episodes} episodes at {rendering.fps:g} fps")
    return 0


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run a results table's missing runs and write the table",
                       description="Run the missing cells of a table spec (algorithms x envs x seeds), "
                                   "then write <out>/<table>.md, .csv, .marl_eval.json and learning-curve figures.")
    p.add_argument("spec", help="the table spec, e.g. configs/tables/mpe.yaml")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: a process pool here (default); ray: one Ray task per run")
    p.add_argument("--workers", type=int, help="runs at a time (default: the number of CPUs)")
    p.add_argument("--address", help="a Ray cluster to connect to (ray backend), e.g. ray://head:10001")
    p.add_argument("--out", default="results", help="where tables, plots and per-seed runs go (default: results)")
    p.add_argument("--wandb", choices=["auto", "online", "offline", "disabled"],
                   help="Weights & Biases mode of the runs (not part of the cache key)")
    p.add_argument("--dry-run", action="store_true", help="list the runs that would run, and run nothing")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep each cell's final checkpoint.pt beside its metrics (as the spec's keep_checkpoints: "
                        "true does), for `marlzoo eval --run <cell dir>`; cached cells without one run again")
    p.add_argument("--rerun", action="store_true", help="run every cell again, cached or not")
    p.add_argument("--rerun-unfingerprinted", action="store_true",
                   help="run again the cached cells made before cell.json recorded the code that made them")
    p.add_argument("--verify-code", action="store_true",
                   help="for cells made by older code: rerun the lowest seed of each algorithm and env, and where "
                        "its metrics come out identical, accept the other seeds for the current code instead of "
                        "rerunning them")
    p.add_argument("--format", dest="fmt", choices=["png", "svg", "pdf"], default="png",
                   help="learning-curve figure format (default: png; needs the plots extra)")
    p.add_argument("--dpi", type=int, default=100, help="figure resolution, dots per inch (default: 100)")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from marlzoo.bench.reproduce import cached_words, reproduce

    report = reproduce(args.spec, args.backend, args.workers, args.address, args.out, args.wandb, args.dry_run,
                       args.rerun, fmt=args.fmt, dpi=args.dpi, keep_checkpoints=args.keep_checkpoints,
                       rerun_unfingerprinted=args.rerun_unfingerprinted, verify_code=args.verify_code)
    if args.dry_run:
        print(f"table {report.spec.name}: {report.total} cells, {cached_words(report)}, {len(report.ran)} would run")
        return 0
    accepted = f" ({len(report.accepted)} of them accepted by --verify-code)" if report.accepted else ""
    done = f"ran {len(report.ran)} cells, {cached_words(report)}{accepted}, {len(report.failed)} failed"
    wrote = ", ".join(str(p) for p in report.outputs)
    if report.missing:
        print(f"table {report.spec.name} is INCOMPLETE, {len(report.missing)} of {report.total} cells missing "
              f"(the same command runs them): {done}; wrote {wrote}")
    else:
        print(f"table {report.spec.name}: {done}; wrote {wrote}")
    return 1 if report.failed or report.missing else 0


RUN_DIRS_HELP = ("run directories (from `marlzoo run`, or a table's cells), or directories holding them; "
                 "runs that differ only in seed form one group")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="draw the learning curves of any runs",
                       description="Draw the greedy test return of runs against env steps, in one figure: seeds of "
                                   "one config as one curve (their IQM) with a 95%% bootstrap band, other runs "
                                   "labelled by what differs. Needs the plots extra.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help=RUN_DIRS_HELP)
    p.add_argument("--out", default="curves.png", help="the figure: .png, .svg or .pdf (default: curves.png)")
    p.add_argument("--dpi", type=int, default=100, help="resolution, dots per inch (default: 100)")
    p.add_argument("--title", help="the figure's title (default: what the runs share, e.g. 'vdn on simple_spread')")


def _cmd_plot(args: argparse.Namespace) -> int:
    from marlzoo.bench.plots import plot_runs

    print(f"wrote {plot_runs(args.runs, Path(args.out), args.dpi, args.title)}")
    return 0


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="print the final and best greedy returns of any runs",
                       description="Print a table of runs' final and best greedy test returns, seeds of one config "
                                   "grouped: the mean with a 95%% t interval and the IQM with a 95%% bootstrap interval.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help=RUN_DIRS_HELP)


def _cmd_compare(args: argparse.Namespace) -> int:
    from marlzoo.bench.compare import compare_runs

    print(compare_runs(args.runs))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from marlzoo.algorithm import ReplayAlgorithm
    from marlzoo.envs.catalogue import env_names, env_packages
    from marlzoo.envs.vmas_env import vmas_line
    from marlzoo.registry import algo_names, get_algo

    print("algorithms:")
    print(f"  {'name':<20} {'learns from':<13} {'actions':<22} where")
    for name, where in algo_names().items():
        try:
            cls = get_algo(name)
        except UserError as exc:  # one broken plugin must not hide the others
            print(f"  {name:<20} {'?':<13} {'?':<22} {where} (does not load: {exc})")
            continue
        base = "replay" if issubclass(cls, ReplayAlgorithm) else "rollouts"
        print(f"  {name:<20} {base:<13} {', '.join(cls.action_kinds):<22} {where}")
    print("envs:")
    print(f"  {'name':<24} {'package':<22} where")
    packages = env_packages()
    for name, where in env_names().items():
        package, extra = packages[name]
        hint = f"  (pip install 'marlzoo[{extra}]')" if extra else ""
        print(f"  {name:<24} {package:<22} {where}{hint}")
    print(vmas_line())
    print("  (any PettingZoo env: --env package.module:factory; a Gymnasium multi-agent env: --env module:GymnasiumId,")
    print("   such as lbforaging:Foraging-8x8-2p-2f-coop-v3 or rware:rware-tiny-2ag-v2)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marlzoo", description="Cooperative multi-agent RL over PettingZoo.")
    parser.add_argument("--version", action="version", version=f"marlzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_eval(sub)
    sub.add_parser("list", help="list algorithms and envs")
    _add_reproduce(sub)
    _add_plot(sub)
    _add_compare(sub)
    return parser


COMMANDS = {"run": _cmd_run, "eval": _cmd_eval, "list": _cmd_list, "reproduce": _cmd_reproduce, "plot": _cmd_plot,
            "compare": _cmd_compare}


def out_of_memory(exc: BaseException) -> str:
    """The line for an allocation that failed (a MemoryError, or torch's "can't allocate memory")."""
    size = re.search(r"allocate (\d+) bytes", str(exc))
    what = f"could not allocate {int(size.group(1)) / 1e9:,.1f} GB" if size else "ran out of memory"
    return (f"{what}; make the replay buffer (algo.buffer_size), episodes (env.episode_limit), env copies "
            "(n_envs) or networks (algo.agent.hidden) smaller")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        if os.environ.get(TRACEBACK_VARIABLE) and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        print(f"marlzoo: error: {exc}", file=sys.stderr)
        return 2
    except RunInterrupted as exc:
        print(f"marlzoo: {exc}", file=sys.stderr)
        return 128 + exc.signal
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "can't allocate memory" not in str(exc):
            raise
        print(f"marlzoo: error: {out_of_memory(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("marlzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
