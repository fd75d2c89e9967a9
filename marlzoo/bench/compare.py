"""``marlzoo compare``: a table of the final and best greedy returns of any runs, grouped by config.

Runs are grouped and labelled as :mod:`marlzoo.bench.runs` describes. Per group: its seeds, the env
steps, the mean final return with its 95% Student-t interval, the IQM of the final returns with its
95% bootstrap interval (:mod:`marlzoo.bench.stats`), and the mean of each seed's best evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from marlzoo.bench.results import format_interval, format_number
from marlzoo.bench.runs import Group, common_title, find_runs, group_runs
from marlzoo.bench.stats import bootstrap_iqm, t_interval

HEADER = ("run", "seeds", "env steps", "final: mean [95% t CI]", "final: IQM [95% bootstrap CI]", "best: mean")


def _steps(group: Group) -> str:
    values = sorted({r.env_steps for r in group.runs})
    return f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}–{values[-1]:,}"


def comparison(groups: Sequence[Group]) -> list[tuple[str, ...]]:
    """One row of cells per group, after :data:`HEADER`."""
    rows = [HEADER]
    for g in groups:
        finals = [r.final for r in g.runs]
        rows.append((g.label, ", ".join(map(str, g.seeds)), _steps(g), format_interval(t_interval(finals)),
                     format_interval(bootstrap_iqm([finals])), format_number(t_interval([r.best for r in g.runs]).point)))
    return rows


def compare_runs(paths: Sequence[str | Path]) -> str:
    """The text ``marlzoo compare`` prints: what the runs share, one aligned line per group, then a
    note for each run that is not finished (running, killed, interrupted or failed)."""
    groups = group_runs(find_runs(paths))
    n_runs = sum(len(g.runs) for g in groups)
    title = common_title(groups)
    lines = [f"{title + ': ' if title else ''}{n_runs} run{'s' if n_runs != 1 else ''} in {len(groups)} "
             f"group{'s' if len(groups) != 1 else ''} (runs that differ only in seed form one group)"]
    rows = comparison(groups)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for run in (r for g in groups for r in g.runs if r.info.get("status") not in (None, "finished")):
        status = str(run.info["status"]).split(":")[0]
        hint = "" if status == "running" else f"; go on with: marlzoo run --resume {run.path}"
        lines.append(f"note: {run.path} is {status} at env step {run.env_steps:,}, not finished{hint}")
    return "\n".join(lines)
