"""Per-seed runs -> a results table (Markdown and CSV) and learning-curve plots.

Per seed, from ``metrics.jsonl``: the *final* test return (the greedy evaluation at the end of the
budget) and the *maximum* test return (the best greedy evaluation during training). Over seeds: the
mean with a 95% Student-t confidence interval (see :mod:`marlzoo.bench.stats`), and the interquartile mean
of the final returns. Wall-clock and hardware come from ``run.json``, and so does the metric contract
that the table's header states.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marlzoo.bench.stats import Interval, interquartile_mean, t_interval
from marlzoo.bench.store import cells_of

if TYPE_CHECKING:
    from marlzoo.bench.store import TableStore
    from marlzoo.bench.tables import TableSpec

CI_METHOD = "95% Student-t interval over seeds"


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
    rows = [json.loads(line) for line in (cell_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    tests = [(r["env_steps"], r["test/return_mean"]) for r in rows if "test/return_mean" in r]
    info = json.loads((cell_dir / "run.json").read_text())
    meta = json.loads((cell_dir / "cell.json").read_text())
    curve = np.asarray(tests, dtype=float).reshape(-1, 2)
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

    @property
    def iqm(self) -> float:
        return interquartile_mean([r.final for r in self.runs])

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
def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"


def _with_ci(iv: Interval) -> str:
    if iv.n == 0:
        return "–"
    if iv.n < 2:
        return f"{_num(iv.mean)} (1 seed, no CI)"
    return f"{_num(iv.mean)} [{_num(iv.low)}, {_num(iv.high)}]"


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
    """One line per algorithm x env; returns as mean and 95% t-interval bounds."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["algo", "env", "seeds", "env_steps", "final_mean", "final_ci95_low", "final_ci95_high",
                     "max_mean", "max_ci95_low", "max_ci95_high", "final_iqm", "wall_clock_s_mean", "sps_mean",
                     "ci_method"])
    for row in rows:
        f, b = row.final, row.best
        steps = int(np.mean([r.env_steps for r in row.runs])) if row.runs else ""
        cells = [f.mean, f.low, f.high, b.mean, b.low, b.high, row.iqm, row.mean_of("wall_clock_s"), row.mean_of("sps")]
        writer.writerow([row.algo, row.env, len(row.runs), steps,
                         *("" if math.isnan(v) else round(v, 4) for v in cells), CI_METHOD])
    return buf.getvalue()


def render_markdown(spec: "TableSpec", rows: list[Row], command: str, plots: dict[str, str], runs_link: str) -> str:
    """The table, its statistics' definitions, the metric contract, and where and how it was produced."""
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
        "| algorithm | env | final test return | max test return | IQM of final | env steps | wall-clock per run | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        seeds = f"{len(row.runs)}" if len(row.runs) == row.expected_seeds else f"{len(row.runs)} of {row.expected_seeds}"
        lines.append(
            f"| {row.algo} | {row.env} | {_with_ci(row.final)} | {_with_ci(row.best)} | {_num(row.iqm)} | "
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
        "- **IQM of final**: the interquartile mean of the final returns over seeds (the middle 50%, the values "
        "at the quartiles weighted fractionally), robust to one outlying seed.",
        "- **wall-clock per run**: the mean over seeds, on the hardware below, with the stated number of runs "
        "sharing it. Returns do not depend on it.",
        "",
    ]
    if plots:
        lines += ["## Learning curves", "",
                  "Mean greedy test return over seeds against env steps; the band is the 95% t interval.", ""]
        lines += [f"![{env}]({link})" for env, link in plots.items()]
        lines.append("")
    lines += _contract(spec, rows) + [""] + _provenance(runs, runs_link)
    return "\n".join(lines) + "\n"


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


def plot_curves(spec: "TableSpec", rows: list[Row], path_for: Any) -> dict[str, Path] | None:
    """One PNG per env: every algorithm's mean test return with a 95% t band. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    written = {}
    for env in spec.envs:
        env_rows = [r for r in rows if r.env == env.label and r.runs]
        if not env_rows:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for row in env_rows:
            grid, mean, low, high = curve_band(row.runs)
            line, = ax.plot(grid, mean, label=f"{row.algo} ({len(row.runs)} seeds)")
            if len(row.runs) > 1:
                ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("env steps")
        ax.set_ylabel("test return (greedy)")
        ax.set_title(f"{spec.name}: {env.label}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = path_for(env.label)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written[env.label] = path
    return written


def curve_band(runs: list[SeedRun]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds' curves on a common grid of env steps (linear interpolation), their mean and 95% t band."""
    start = max(r.curve[0, 0] for r in runs)
    stop = min(r.curve[-1, 0] for r in runs)
    grid = np.unique(np.concatenate([r.curve[:, 0] for r in runs]))
    grid = grid[(grid >= start) & (grid <= stop)]
    values = np.stack([np.interp(grid, r.curve[:, 0], r.curve[:, 1]) for r in runs])
    intervals = [t_interval(values[:, i]) for i in range(len(grid))]
    return (grid, np.array([iv.mean for iv in intervals]), np.array([iv.low for iv in intervals]),
            np.array([iv.high for iv in intervals]))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_outputs(spec: "TableSpec", store: "TableStore", out: Path, command: str, console: Any = None) -> list[Path]:
    """Write ``<out>/<table>.md``, ``<out>/<table>.csv`` and ``<out>/plots/<table>-<env>.png``."""
    rows = collect_rows(spec, store)
    plots = plot_curves(spec, rows, lambda env: out / "plots" / f"{spec.name}-{env}.png")
    if plots is None:
        if console is not None:
            console.print('no learning curves: matplotlib is not installed (pip install "marlzoo[plots]")')
        plots = {}
    links = {env: path.relative_to(out).as_posix() for env, path in plots.items()}
    runs_link = store.root.relative_to(out).as_posix() + "/"
    md, csv_path = out / f"{spec.name}.md", out / f"{spec.name}.csv"
    _atomic_write(md, render_markdown(spec, rows, command, links, runs_link))
    _atomic_write(csv_path, render_csv(rows))
    return [md, csv_path, *plots.values()]
