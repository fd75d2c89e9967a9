"""Table specs: ``configs/tables/<name>.yaml`` declares a grid of runs, algorithms x envs x seeds.

A spec looks like this (every key but ``algos``, ``envs``, ``seeds`` and ``steps`` is optional)::

    title: MPE, discrete actions
    algos: [idqn, vdn, qmix]            # a name, or {name, label, overrides}
    envs:                               # a name, or {name, label, kwargs, overrides}
      - simple_spread
      - {name: simple_spread, label: spread_n4, kwargs: {N: 4}}
    seeds: 3                            # seeds 0, 1, 2; or a list [0, 1, 2]
    steps: 100000                       # the budget of every run, in env steps
    evaluation: {test_episodes: 32, test_interval: 10000}
    overrides: {n_envs: 8}              # config keys for every cell
    keep_checkpoints: false             # true: keep each run's checkpoint.pt beside its metrics
    notes: |                            # Markdown the table file keeps after the rows' key, every time it is written
      ## How these cells were chosen
      ...

Each cell's config is the usual layering (configs/default.yaml, configs/algos/<algo>.yaml,
configs/envs/<env>.yaml) plus these layers, later over earlier: the table's ``overrides``, the env
entry's ``overrides``, the algorithm entry's ``overrides``, then the table's protocol (env kwargs,
steps, seed, evaluation, the W&B group). Overrides may not set the protocol's keys: a table has one
budget and one evaluation protocol. Every cell is resolved and validated when the spec loads, so a
typo fails before anything runs, with the key's name and the layer it came from.
"""

from __future__ import annotations

import copy
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marlzoo.config import RunConfig, build_dataclass, load_config, read_yaml
from marlzoo.errors import UserError

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# Keys the table's protocol sets; an override of one of them is an error, with where to set it instead.
PROTOCOL_KEYS = {
    "steps": "the table's 'steps'",
    "seed": "the table's 'seeds'",
    "test_interval": "the table's 'evaluation.test_interval'",
    "test_episodes": "the table's 'evaluation.test_episodes'",
    "algo.name": "the table's 'algos'",
    "env.name": "the table's 'envs'",
    "env.kwargs": "the env entry's 'kwargs'",
    "wandb.group": "nowhere: the W&B group is the table's name",
}


@dataclass
class Evaluation:
    """Greedy test episodes: how many, and every how many env steps (always also at the end)."""

    test_episodes: int = 32
    test_interval: int = 10000


@dataclass
class AlgoEntry:
    """One algorithm of the table; ``label`` names its rows (default: ``name``)."""

    name: str
    label: str | None = None
    overrides: dict = field(default_factory=dict)


@dataclass
class EnvEntry:
    """One env of the table, with its kwargs; ``label`` names its rows (default: ``name``)."""

    name: str
    label: str | None = None
    kwargs: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)


@dataclass
class _SpecFile:
    algos: list
    envs: list
    seeds: int | list
    steps: int
    evaluation: Evaluation = field(default_factory=Evaluation)
    overrides: dict = field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    keep_checkpoints: bool = False  # keep each run's final checkpoint.pt (for `marlzoo eval --run <cell dir>`)
    notes: str | None = None  # Markdown written into the table file after the key to its columns


@dataclass(frozen=True)
class Cell:
    """One run of the table: an algorithm on an env with one seed, and its resolved config."""

    algo: str  # the algorithm entry's label
    env: str  # the env entry's label
    seed: int
    config: RunConfig

    @property
    def name(self) -> str:
        return f"{self.algo}/{self.env}/seed{self.seed}"


@dataclass
class TableSpec:
    """A validated table spec: its entries and every cell's resolved config."""

    name: str
    path: Path
    title: str
    description: str | None
    algos: list[AlgoEntry]
    envs: list[EnvEntry]
    seeds: list[int]
    steps: int
    evaluation: Evaluation
    cells: list[Cell]
    keep_checkpoints: bool = False
    notes: str | None = None

    def cell(self, algo: str, env: str, seed: int) -> Cell:
        for c in self.cells:
            if (c.algo, c.env, c.seed) == (algo, env, seed):
                return c
        raise KeyError((algo, env, seed))


def _sources(data: Any, prefix: str, label: str, out: dict[str, str]) -> dict[str, str]:
    """``dotted key -> label`` for every key of ``data``, list items as ``key[i]``."""
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            out[dotted] = label
            _sources(value, dotted, label, out)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out[f"{prefix}[{i}]"] = label
            _sources(value, f"{prefix}[{i}]", label, out)
    return out


def _flat_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys.extend(_flat_keys(value, dotted + "."))
    return keys


def _check_overrides(overrides: dict, where: str, label: str) -> None:
    for key in _flat_keys(overrides):
        if key in PROTOCOL_KEYS:
            raise UserError(f"table {label}: {where} sets '{key}', which the table's protocol owns; set it in {PROTOCOL_KEYS[key]}")


def _entries(raw: Any, cls: type, key: str, sources: dict[str, str], label: str) -> list:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"table {label}: '{key}' must be a non-empty list of names or mappings")
    entries = []
    for i, item in enumerate(raw):
        entry = build_dataclass(cls, {"name": item} if isinstance(item, str) else item, f"{key}[{i}]", sources)
        entry.label = entry.label or re.sub(r"[^A-Za-z0-9_.+-]+", "_", entry.name).strip("_")
        if not SLUG.match(entry.label):
            raise UserError(f"table {label}: {key}[{i}].label '{entry.label}' may hold only letters, digits and _ . + -")
        _check_overrides(entry.overrides, f"{key}[{i}] ({entry.label}).overrides", label)
        entries.append(entry)
    labels = [e.label for e in entries]
    for lab in labels:
        if labels.count(lab) > 1:
            raise UserError(f"table {label}: two entries of '{key}' are both labelled '{lab}'; give one a distinct 'label'")
    return entries


MAX_CELLS = 10_000  # a larger grid is a typo (seeds: 100000000), and would take minutes only to resolve


def _seeds(raw: int | list, label: str) -> list[int]:
    if isinstance(raw, int):
        if not 1 <= raw <= MAX_CELLS:
            raise UserError(f"table {label}: 'seeds' must be a count from 1 to {MAX_CELLS:,}, not {raw}")
        return list(range(raw))
    if not raw or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in raw):
        raise UserError(f"table {label}: 'seeds' must be a count or a list of integers from 0 to 2**32 - 1, "
                        f"not {reprlib.repr(raw)}")
    if len(set(raw)) != len(raw):
        raise UserError(f"table {label}: 'seeds' lists a seed twice: {raw!r}")
    return list(raw)


def _check_env_name(name: str, label: str) -> None:
    from marlzoo.envs.catalogue import resolve_env_factory

    try:
        resolve_env_factory(name)
    except UserError as exc:
        raise UserError(f"table {label}: {exc}") from None


def _check_algo_name(name: str, label: str) -> None:
    from marlzoo.registry import get_algo

    try:
        get_algo(name)
    except UserError as exc:
        raise UserError(f"table {label}: {exc}") from None


def load_table(path: str | Path) -> TableSpec:
    """Read, validate and resolve a table spec; any problem is one :class:`UserError` line."""
    path = Path(path)
    if not path.is_file():  # a table's name, or configs/tables/... away from a source tree (a wheel install)
        from marlzoo.config import CONFIG_DIR

        installed = CONFIG_DIR / "tables" / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
        if not installed.is_file():
            raise UserError(f"table spec {path} does not exist; tables live in configs/tables/<name>.yaml "
                            "(`marlzoo reproduce mpe` finds the installed configs/tables/mpe.yaml)")
        path = installed
    label = str(path)
    data = read_yaml(path, label)
    sources = _sources(data, "", label, {})
    # Validate the top level first (unknown keys, types), then the entries one by one.
    shell = build_dataclass(_SpecFile, data, "", sources)
    algos = _entries(shell.algos, AlgoEntry, "algos", sources, label)
    envs = _entries(shell.envs, EnvEntry, "envs", sources, label)
    seeds = _seeds(shell.seeds, label)
    if shell.steps < 1:
        raise UserError(f"table {label}: 'steps' must be at least 1, not {shell.steps}")
    _check_overrides(shell.overrides, "overrides", label)
    if len(algos) * len(envs) * len(seeds) > MAX_CELLS:
        raise UserError(f"table {label}: {len(algos)} algorithms x {len(envs)} envs x {len(seeds)} seeds is "
                        f"{len(algos) * len(envs) * len(seeds):,} cells, more than {MAX_CELLS:,}; split it into tables")
    for entry in algos:
        _check_algo_name(entry.name, label)
    for entry in envs:
        _check_env_name(entry.name, label)

    name = path.stem
    cells = []
    for algo in algos:
        for env in envs:
            for seed in seeds:
                protocol = {
                    "env": {"kwargs": copy.deepcopy(env.kwargs)},
                    "test_interval": shell.evaluation.test_interval,
                    "test_episodes": shell.evaluation.test_episodes,
                    "wandb": {"group": name},
                }
                layers = [
                    (copy.deepcopy(shell.overrides), f"{label} overrides"),
                    (copy.deepcopy(env.overrides), f"{label} envs[{env.label}].overrides"),
                    (copy.deepcopy(algo.overrides), f"{label} algos[{algo.label}].overrides"),
                    (protocol, label),
                ]
                config = load_config(algo.name, env.name, steps=shell.steps, seed=seed, extra_layers=layers)
                cells.append(Cell(algo.label, env.label, seed, config))
    return TableSpec(name=name, path=path, title=shell.title or name, description=shell.description,
                     algos=algos, envs=envs, seeds=seeds, steps=shell.steps, evaluation=shell.evaluation, cells=cells,
                     keep_checkpoints=shell.keep_checkpoints, notes=shell.notes)


def check_support(spec: TableSpec) -> None:
    """Build each env once and check every algorithm of the table can run on it (action kinds)."""
    from marlzoo.envs.catalogue import make_env
    from marlzoo.registry import get_algo

    for env in spec.envs:
        config = next(c.config for c in spec.cells if c.env == env.label)
        e = config.env
        adapter = make_env(e.name, e.kwargs, e.episode_limit, e.reward_aggregation, e.state, e.scale_obs)
        try:
            env_spec = adapter.spec
        finally:
            adapter.close()
        for algo in spec.algos:
            try:
                get_algo(algo.name).check_spec(env_spec, algo.name)
            except UserError as exc:
                raise UserError(f"table {spec.path}: {exc}") from None
