"""Run directories read back for ``marlzoo plot`` and ``marlzoo compare``: their learning curves, and
their grouping into seeds of one config.

A run directory is what ``marlzoo run`` writes (``config.yaml``, ``metrics.jsonl``, ``run.json``), and
so is each cell of a reproduced table. Runs whose resolved configs are equal except for ``seed`` and
the ``wandb`` section (where metrics go, not what is computed) are seeds of one config and form one
group. A group is labelled by what differs between groups: the algorithm and the env when they
differ, then every other key that differs, in sorted order, as ``key=value`` with dotted keys
(``algo.lr=0.001``). An ``algo.*`` key counts only against groups of the same algorithm, and an ``env.*`` key only against
groups of the same env: another algorithm's own hyperparameters are not what tells the curves apart.
A config written before an option existed (:data:`marlzoo.bench.store.ADDED_KEYS`) counts as having
it at its default.
"""

from __future__ import annotations

import json
import math
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from marlzoo.bench.store import ADDED_KEYS
from marlzoo.errors import UserError
from marlzoo.training.runinfo import read_run_info

IGNORED = ("seed", "wandb")  # top-level keys that do not make another config


def metric_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl``, each without its ``time/*`` keys: what two runs of the same
    config and code on the same kind of CPU write alike, to the bit."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]


def first_difference(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str | None:
    """Where two runs' :func:`metric_rows` part, in words (None: they are identical)."""
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b:
            key = next(k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k))
            return f"row {i + 1} (env step {a.get('env_steps', '?')}), {key}: {a.get(key)} -> {b.get(key)}"
    if len(old) != len(new):
        return f"{len(old)} rows -> {len(new)}"
    return None


def read_curve(run_dir: Path) -> np.ndarray:
    """``[n_evals, 2]``: env steps and greedy test return of every evaluation in ``metrics.jsonl``."""
    path = run_dir / "metrics.jsonl"
    tests = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; is it a marlzoo metrics file?") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"{path} line {number} is not JSON; is it a marlzoo metrics file?") from None
        if isinstance(row, dict) and "test/return_mean" in row and "env_steps" in row:
            point = (row["env_steps"], row["test/return_mean"])
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in point):
                raise UserError(f"{path} line {number}: env_steps and test/return_mean must be finite numbers, "
                                f"not {reprlib.repr(point[0])} and {reprlib.repr(point[1])}")
            tests.append(point)
    return np.asarray(tests, dtype=float).reshape(-1, 2)


@dataclass
class RunData:
    """One run directory: its resolved config, its ``run.json`` (empty if absent) and its test curve."""

    path: Path
    config: dict[str, Any]
    info: dict[str, Any]
    curve: np.ndarray  # [n_evals, 2]: env steps, test return

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def final(self) -> float:
        return float(self.curve[-1, 1])

    @property
    def best(self) -> float:
        return float(self.curve[:, 1].max())

    @property
    def env_steps(self) -> int:
        return int(self.info.get("env_steps", self.curve[-1, 0]))


def read_run(path: Path) -> RunData:
    """Read one run directory; anything missing or unreadable is a :class:`UserError`."""
    if not (path / "metrics.jsonl").is_file():
        raise UserError(f"{path} is not a run directory: it has no metrics.jsonl")
    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path / 'config.yaml'} is not UTF-8 text") from None
    except OSError:
        raise UserError(f"{path} has no config.yaml; plot and compare read the runs that `marlzoo run` writes") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path / 'config.yaml'} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path / 'config.yaml'} does not hold a config mapping")
    info = read_run_info(path)
    curve = read_curve(path)
    if not len(curve):
        raise UserError(f"{path} has no greedy evaluations (test/return_mean) in metrics.jsonl yet")
    return RunData(path, config, info, curve)


def find_runs(paths: Iterable[str | Path]) -> list[RunData]:
    """The runs named by ``paths``: a run directory, or a directory holding run directories at any depth
    (``runs/``, ``results/runs/<table>/``), which stands for all of them in sorted order, except those
    under hidden directories (a table's ``.scratch/`` holds the cells still running)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if not given.exists():
            raise UserError(f"{given} does not exist")
        if not given.is_dir():
            raise UserError(f"{given} is not a run directory (give the directory that holds metrics.jsonl)")
        if (given / "metrics.jsonl").is_file():
            found.append(given)
            continue
        inside = sorted(p.parent for p in given.rglob("metrics.jsonl")  # not under .scratch/ and the like
                        if not any(part.startswith(".") for part in p.relative_to(given).parts))
        if not inside:
            raise UserError(f"{given} is not a run directory: it has no metrics.jsonl, nor any run directory under it")
        found.extend(inside)
    unique: dict[Path, Path] = {}
    for path in found:  # each run once, named as given
        unique.setdefault(path.resolve(), path)
    return [read_run(path) for path in unique.values()]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (lists are values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


@dataclass
class Group:
    """Runs of one config (differing only in seed), and the label that tells it from the others."""

    flat: dict[str, Any]
    runs: list[RunData] = field(default_factory=list)
    label: str = ""

    @property
    def algo(self) -> str:
        return str(self.flat.get("algo.name", "?"))

    @property
    def env(self) -> str:
        return str(self.flat.get("env.name", "?"))

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.runs]


def group_runs(runs: Sequence[RunData]) -> list[Group]:
    """Runs grouped by config (in the order of their first run), each group labelled."""
    groups: dict[str, Group] = {}
    for run in runs:
        flat = flatten({k: v for k, v in run.config.items() if k not in IGNORED})
        for dotted, default in ADDED_KEYS.items():  # configs written before a key existed ran at its default
            flat.setdefault(dotted, default)
        key = json.dumps(flat, sort_keys=True, default=str)
        groups.setdefault(key, Group(flat)).runs.append(run)
    result = list(groups.values())
    for group in result:
        group.label = _label(group, result)
    return result


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) or value is None else str(value)


def _label(group: Group, groups: list[Group]) -> str:
    parts = []
    if len({g.algo for g in groups}) > 1:
        parts.append(group.algo)
    if len({g.env for g in groups}) > 1:
        parts.append(group.env)
    missing = object()
    for key, value in sorted(group.flat.items()):
        if key in ("algo.name", "env.name"):
            continue
        rivals = [g for g in groups if g is not group
                  and (not key.startswith("algo.") or g.algo == group.algo)
                  and (not key.startswith("env.") or g.env == group.env)]
        if any(g.flat.get(key, missing) != value for g in rivals):
            parts.append(f"{key}={_value(value)}")
    return ", ".join(parts) or f"{group.algo} on {group.env}"


def common_title(groups: Sequence[Group]) -> str:
    """What every group shares: ``vdn on simple_spread``, ``simple_spread`` or ``vdn`` (or nothing)."""
    algos, envs = {g.algo for g in groups}, {g.env for g in groups}
    if len(algos) == 1 and len(envs) == 1:
        return f"{next(iter(algos))} on {next(iter(envs))}"
    if len(envs) == 1:
        return next(iter(envs))
    return next(iter(algos)) if len(algos) == 1 else ""


def align(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Curves on the env steps they share: the union of their evaluation steps inside every curve's span,
    each curve linearly interpolated there. Returns the grid and ``values [n_curves, n_points]``."""
    start = max(c[0, 0] for c in curves)
    stop = min(c[-1, 0] for c in curves)
    grid = np.unique(np.concatenate([c[:, 0] for c in curves]))
    grid = grid[(grid >= start) & (grid <= stop)]
    return grid, np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])

