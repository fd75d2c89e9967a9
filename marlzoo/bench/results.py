"""Per-seed runs -> a results table (Markdown and CSV), learning-curve figures, and a marl-eval export.

Per seed, from ``metrics.jsonl``: the *final* test return (the greedy evaluation at the end of the
budget) and the *maximum* test return (the best greedy evaluation during training). Over seeds: the
mean with a 95% Student-t interval, and the interquartile mean with its 95% stratified-bootstrap
interval (see :mod:`marlzoo.bench.stats`). Where a table has more than one algorithm, the
probability of improvement between them, and with more than one env, their IQM over envs.
Wall-clock and hardware come from ``run.json``, and so does the metric contract that the table's
header states.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marlzoo.bench.marl_eval import marl_eval_data
from marlzoo.bench.plots import BAND, draw_curves, pyplot
from marlzoo.bench.runs import read_curve
from marlzoo.bench.stats import REPS, Interval, bootstrap_iqm, bootstrap_probability_of_improvement, t_interval
from marlzoo.bench.store import cells_of

if TYPE_CHECKING:
    from marlzoo.bench.store import TableStore
    from marlzoo.bench.tables import TableSpec

CI_METHOD = "95% Student-t interval over seeds"
IQM_CI_METHOD = f"95% percentile interval of the stratified bootstrap, {REPS} resamples of the seeds, fixed seed"


@dataclass
class SeedRun:
    """One finished run of a cell, read back from its artifacts."""

    seed: int
    final: float
    best: float
    env_steps: int
    wall_clock_s: float
    sps: float
    curve: np.ndarray  # [n_evals, 2]: env steps, test return
    info: dict[str, Any]  # run.json
    meta: dict[str, Any]  # cell.json


def read_seed_run(cell_dir: Path, seed: int) -> SeedRun:
    """A cell directory's metrics and run.json, reduced to what the table needs."""
    curve = read_curve(cell_dir)
    info = json.loads((cell_dir / "run.json").read_text())
    meta = json.loads((cell_dir / "cell.json").read_text())
    return SeedRun(
        seed=seed,
        final=float(curve[-1, 1]) if len(curve) else math.nan,
        best=float(curve[:, 1].max()) if len(curve) else math.nan,
        env_steps=int(info.get("env_steps", curve[-1, 0] if len(curve) else 0)),
        wall_clock_s=float(info.get("wall_clock_s", math.nan)),
        sps=float(info.get("sps", math.nan)),
        curve=curve,
        info=info,
        meta=meta,
    )


@dataclass
class Row:
    """One algorithm on one env, over its finished seeds."""

    algo: str
    env: str
    runs: list[SeedRun]
    expected_seeds: int

    @property
    def final(self) -> Interval:
        return t_interval([r.final for r in self.runs])

    @property
    def best(self) -> Interval:
        return t_interval([r.best for r in self.runs])

    @cached_property
    def iqm(self) -> Interval:
        """The IQM of the final returns and its bootstrap interval (one task: this env)."""
        return bootstrap_iqm([[r.final for r in self.runs]])

    def mean_of(self, attr: str) -> float:
        values = [getattr(r, attr) for r in self.runs]
        return float(np.mean(values)) if values else math.nan


def collect_rows(spec: "TableSpec", store: "TableStore") -> list[Row]:
    """A row per algorithm x env (in the spec's order) with the seeds that finished under the current key."""
    found: dict[tuple[str, str], list[SeedRun]] = {}
    for cell, cell_dir in cells_of(spec, store):
        found.setdefault((cell.algo, cell.env), []).append(read_seed_run(cell_dir, cell.seed))
    return [Row(a.label, e.label, found.get((a.label, e.label), []), len(spec.seeds)) for a in spec.algos for e in spec.envs]


# ------------------------------------------------------------------------------ formatting
def format_number(x: float) -> str:
    """A return for a table: 1 decimal from 100 up, else 2; NaN as a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"


def format_interval(iv: Interval) -> str:
    """``point [low, high]``, or the point alone when there was nothing to make an interval of."""
    if iv.n == 0:
        return "–"
    if math.isnan(iv.low):
        return f"{format_number(iv.point)} (1 seed, no CI)"
    return f"{format_number(iv.point)} [{format_number(iv.low)}, {format_number(iv.high)}]"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _steps(row: Row) -> str:
    values = sorted({r.env_steps for r in row.runs})
    if not values:
        return "–"
    return f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}–{values[-1]:,}"


def _distinct(values: list[Any]) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v is not None))
    return ", ".join(seen) if seen else "unknown"


# ------------------------------------------------------------------------------ outputs
def render_csv(rows: list[Row]) -> str:
    """One line per algorithm x env: returns as the mean and 95% t-interval bounds, the IQM and its bootstrap bounds."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["algo", "env", "seeds", "env_steps", "final_mean", "final_ci95_low", "final_ci95_high",
                     "max_mean", "max_ci95_low", "max_ci95_high", "final_iqm", "wall_clock_s_mean", "sps_mean",
                     "ci_method", "final_iqm_ci95_low", "final_iqm_ci95_high", "iqm_ci_method"])
    for row in rows:
        f, b, q = row.final, row.best, row.iqm
        steps = int(np.mean([r.env_steps for r in row.runs])) if row.runs else ""
        cells = [f.point, f.low, f.high, b.point, b.low, b.high, q.point, row.mean_of("wall_clock_s"), row.mean_of("sps")]
        writer.writerow([row.algo, row.env, len(row.runs), steps, *map(_cell, cells), CI_METHOD,
                         _cell(q.low), _cell(q.high), IQM_CI_METHOD])
    return buf.getvalue()


def _cell(value: float) -> Any:
    return "" if math.isnan(value) else round(value, 4)


def render_markdown(spec: "TableSpec", rows: list[Row], command: str, plots: dict[str, str], runs_link: str) -> str:
    """The table, its statistics' definitions, the aggregates, the metric contract, and where and how it was produced."""
    runs = [r for row in rows for r in row.runs]
    lines = [f"# {spec.title}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [
        f"Regenerate with `{command}`. It reuses the runs already under `{runs_link}` and runs only the "
        "missing ones; `--backend ray --workers N` spreads them out without changing a number.",
        "",
        f"Budget: **{spec.steps:,} env steps per run**, seeds {', '.join(map(str, spec.seeds))}. "
        f"Greedy evaluation every {spec.evaluation.test_interval:,} env steps and at the end, "
        f"{spec.evaluation.test_episodes} episodes each.",
        "",
        *_completeness(spec, rows, command),
        "| algorithm | env | final test return | max test return | IQM of final | env steps | wall-clock per run | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        seeds = f"{len(row.runs)}" if len(row.runs) == row.expected_seeds else f"{len(row.runs)} of {row.expected_seeds}"
        lines.append(
            f"| {row.algo} | {row.env} | {format_interval(row.final)} | {format_interval(row.best)} | {format_interval(row.iqm)} | "
            f"{_steps(row)} | {_duration(row.mean_of('wall_clock_s'))} | {seeds} |"
        )
    lines += [
        "",
        "How to read it:",
        "- **final test return**: the mean, over seeds, of the greedy test return at the end of the budget, "
        "and its 95% confidence interval [low, high], a Student-t interval with n-1 degrees of freedom "
        "(with few seeds it is wide, as it should be). Compare algorithms by this column.",
        "- **max test return**: the same statistics for each seed's best evaluation during training. It is "
        "optimistic (the best of many noisy evaluations) and shows instability when well above the final return.",
        "- **IQM of final**: the interquartile mean of the final returns over seeds, as rliable computes it "
        "(Agarwal et al., 2021): the mean after dropping the lowest and the highest quarter of the seeds, "
        "floor(n/4) at each end, so with fewer than 4 seeds it is the mean. [low, high] is its 95% "
        f"percentile interval from the bootstrap ({REPS:,} resamples of the seeds, fixed seed). A bootstrap "
        "only recombines the seeds it has, so the interval lies inside their range: with 2 or 3 seeds it "
        "shows their spread, and is narrower than the t interval.",
        "- **wall-clock per run**: the mean over seeds, on the hardware below, with the stated number of runs "
        "sharing it. Returns do not depend on it.",
        "",
    ]
    if spec.notes:  # the spec's own words, so that a regenerated file keeps them
        lines += [spec.notes.strip(), ""]
    lines += _aggregates(spec, rows)
    if plots:
        lines += ["## Learning curves", "",
                  f"The IQM over seeds of the greedy test return against env steps; the band is the {BAND} "
                  "at each evaluation (inside the range of the seeds).", ""]
        for env, link in plots.items():
            lines.append(f"[{env} (PDF)]({link})" if link.endswith(".pdf") else f"![{env}]({link})")
        lines.append("")
    lines += _contract(spec, rows) + [""] + _provenance(runs, runs_link)
    return "\n".join(lines) + "\n"


def _completeness(spec: "TableSpec", rows: list[Row], command: str) -> list[str]:
    """The header's warnings: cells missing from the table, and cells whose code is not recorded."""
    runs = [r for row in rows for r in row.runs]
    total = sum(row.expected_seeds for row in rows)
    lines = []
    if len(runs) < total:
        short = [f"{row.algo} on {row.env} ({row.expected_seeds - len(row.runs)} of {row.expected_seeds} seeds)"
                 for row in rows if len(row.runs) < row.expected_seeds]
        lines += [f"**Incomplete: {total - len(runs)} of {total} cells are missing** ({', '.join(short)}); the "
                  f"rows with fewer seeds are not comparable to the others. `{command}` runs the missing cells.", ""]
    legacy = sum("code" not in r.meta for r in runs)
    if legacy:
        lines += [f"{legacy} of the {len(runs)} cells were made before `cell.json` recorded a fingerprint of the "
                  "code that made them; their code is known only from the git commit under Provenance. "
                  f"`{command} --rerun-unfingerprinted` runs them again.", ""]
    return lines


def _aggregates(spec: "TableSpec", rows: list[Row]) -> list[str]:
    """With two algorithms or more: their probability of improvement; with two envs or more, also their IQM over envs."""
    by_algo = {a.label: {r.env: r for r in rows if r.algo == a.label and r.runs} for a in spec.algos}
    by_algo = {algo: envs for algo, envs in by_algo.items() if envs}
    if len(by_algo) < 2:
        return []
    envs = [e.label for e in spec.envs if any(e.label in found for found in by_algo.values())]
    lines = ["## Aggregates", ""]
    if len(envs) > 1:
        lines += _iqm_over_envs(by_algo, envs)
    return lines + _improvement(by_algo, envs)


def _iqm_over_envs(by_algo: dict[str, dict[str, Row]], envs: list[str]) -> list[str]:
    bounds = {}
    for env in envs:  # marl-eval's normalisation: the lowest and highest evaluation of any run on the env
        values = np.concatenate([r.curve[:, 1] for found in by_algo.values() if env in found for r in found[env].runs])
        bounds[env] = (float(values.min()), float(values.max()))

    def normalised(row: Row) -> list[float]:
        lo, hi = bounds[row.env]
        return [(r.final - lo) / (hi - lo) if hi > lo else 0.0 for r in row.runs]

    lines = ["| algorithm | IQM over envs, normalised | envs | runs |", "|---|---|---|---|"]
    for algo, found in by_algo.items():
        iv = bootstrap_iqm([normalised(row) for row in found.values()])
        lines.append(f"| {algo} | {format_interval(iv)} | {len(found)} | {iv.n} |")
    return lines + [
        "",
        "- **IQM over envs, normalised**: each seed's final return on each env, min-max normalised by the "
        "lowest and highest greedy evaluation any run of the table reached on that env (marl-eval's "
        "normalisation: 1 is the best evaluation seen there, 0 the worst), pooled over envs; its IQM, and the "
        "95% interval of the stratified bootstrap, which resamples the seeds within each env.",
        "",
    ]


def _improvement(by_algo: dict[str, dict[str, Row]], envs: list[str]) -> list[str]:
    algos = list(by_algo)
    lines = [f"| P(row > column) | {' | '.join(algos)} |", "|---|" + "---|" * len(algos)]
    for x in algos:
        cells = []
        for y in algos:
            shared = [env for env in envs if env in by_algo[x] and env in by_algo[y]]
            if x == y or not shared:
                cells.append("–")
                continue
            iv = bootstrap_probability_of_improvement([[r.final for r in by_algo[x][env].runs] for env in shared],
                                                      [[r.final for r in by_algo[y][env].runs] for env in shared])
            cells.append(f"{iv.point:.2f}" if math.isnan(iv.low) else f"{iv.point:.2f} [{iv.low:.2f}, {iv.high:.2f}]")
        lines.append(f"| {x} | " + " | ".join(cells) + " |")
    return lines + [
        "",
        "- **P(row > column)**: the probability of improvement (Agarwal et al., 2021): the chance that a seed of "
        "the row's algorithm ends with a higher final return than a seed of the column's, ties counting one half "
        "(the Mann-Whitney U statistic over the number of pairs), averaged over the envs both ran. 0.5 is no "
        "difference. [low, high] is its 95% bootstrap interval, the seeds of each algorithm resampled "
        "independently within each env; like the IQM's, it only recombines the seeds there are.",
        "",
    ]


def _contract(spec: "TableSpec", rows: list[Row]) -> list[str]:
    lines = [
        "## Metric contract",
        "",
        "- A **return** is the sum over an episode of the team reward; the team reward is the "
        "aggregation (below) of the agents' rewards at each step. Test episodes are greedy (no exploration), "
        "on env copies seeded apart from training.",
        "- An **env step** is one step of the parallel env, all agents acting once; the budget counts the steps "
        "of every env copy.",
        "",
        "| env | env id | package | agents | episode length | reward aggregation | kwargs |",
        "|---|---|---|---|---|---|---|",
    ]
    for env in spec.envs:
        infos = [r.info for row in rows if row.env == env.label for r in row.runs]
        if not infos:
            lines.append(f"| {env.label} | {env.name} | (no finished runs) | | | | {json.dumps(env.kwargs)} |")
            continue
        info = infos[0]
        packages = _distinct([f"{i.get('env_package')} {i.get('env_version')}" for i in infos])
        lines.append(
            f"| {env.label} | {info.get('env_id')} | {packages} | "
            f"{info.get('n_agents')} | {_distinct([i.get('episode_limit') for i in infos])} steps | "
            f"{_distinct([i.get('reward_aggregation') for i in infos])} | `{json.dumps(info.get('env_kwargs', {}), sort_keys=True)}` |"
        )
    return lines


def _provenance(runs: list[SeedRun], runs_link: str) -> list[str]:
    hw = [r.info.get("hardware", {}) for r in runs]
    machines = _distinct([f"{h.get('cpu')}, {h.get('cpu_count')} cores, {h.get('memory_gb')} GB RAM" for h in hw])
    software = _distinct([f"Python {h.get('python')}, torch {h.get('torch')}, {h.get('torch_threads')} torch thread(s) per run"
                          for h in hw])
    sharing = _distinct([f"{r.meta.get('backend')} backend, {r.meta.get('workers')} runs at a time" for r in runs])
    return [
        "## Provenance",
        "",
        f"- marlzoo {_distinct([r.info.get('marlzoo_version') for r in runs])}; git commit at the start of the runs: "
        f"{_distinct([r.info.get('git_commit') for r in runs])}"
        + (" (-dirty: the tree had uncommitted changes)" if any(str(r.info.get("git_commit")).endswith("-dirty")
                                                                 for r in runs) else ""),
        f"- hardware: {machines}",
        f"- software: {software}",
        f"- scheduling: {sharing}",
        f"- per-seed artifacts: `{runs_link}<algo>/<env>/seed<k>/` holds each run's `metrics.jsonl`, `run.json` "
        "(the metric contract, hardware, wall-clock) and `config.yaml` (the fully resolved config).",
    ]


def plot_curves(spec: "TableSpec", rows: list[Row], path_for: Any, dpi: int = 100) -> dict[str, Path] | None:
    """One figure per env, titled by the spec's title: every algorithm's IQM over seeds and its bootstrap band.
    None without matplotlib."""
    if pyplot() is None:
        return None
    written = {}
    for env in spec.envs:
        env_rows = [r for r in rows if r.env == env.label and r.runs]
        if not env_rows:
            continue
        title = spec.title if len(spec.envs) == 1 else f"{spec.title}: {env.label}"
        series = [(row.algo, [r.curve for r in row.runs]) for row in env_rows]
        written[env.label] = draw_curves(series, title, path_for(env.label), dpi)
    return written


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_outputs(spec: "TableSpec", store: "TableStore", out: Path, command: str, console: Any = None,
                  fmt: str = "png", dpi: int = 100) -> list[Path]:
    """Write ``<out>/<table>.md``, ``.csv``, ``.marl_eval.json`` and ``<out>/plots/<table>-<env>.<fmt>``."""
    rows = collect_rows(spec, store)
    plots = plot_curves(spec, rows, lambda env: out / "plots" / f"{spec.name}-{env}.{fmt}", dpi)
    if plots is None:
        if console is not None:
            console.print('no learning curves: matplotlib is not installed (pip install "marlzoo[plots]")')
        plots = {}
    links = {env: path.relative_to(out).as_posix() for env, path in plots.items()}
    runs_link = store.root.relative_to(out).as_posix() + "/"
    md, csv_path, export = out / f"{spec.name}.md", out / f"{spec.name}.csv", out / f"{spec.name}.marl_eval.json"
    _atomic_write(md, render_markdown(spec, rows, command, links, runs_link))
    _atomic_write(csv_path, render_csv(rows))
    _atomic_write(export, json.dumps(marl_eval_data(rows), indent=1) + "\n")
    return [md, csv_path, export, *plots.values()]
