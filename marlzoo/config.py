"""Configuration: YAML layers merged in order, then validated into typed objects.

Layers, later over earlier:
  1. configs/default.yaml
  2. configs/algos/<algo>.yaml   (if it exists)
  3. configs/envs/<env>.yaml     (if it exists; its algo keys apply to the algorithms that have them)
  4. the user's file (--config my.yaml)
  5. the command line (--set key=value, --steps, --seed, --algo, --env)
Every leaf remembers the layer it came from, so an unknown key or a wrong type is reported with the
key's dotted name and its file. The ``algo:`` section is validated against the algorithm's own
``Config`` dataclass. A numeric key outside its range (marlzoo/ranges.py: a zero batch size, a
discount above 1, a NaN rate) is reported the same way, with what is allowed.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from marlzoo.errors import UserError
from marlzoo.ranges import POSITIVE, RANGE, out_of_range
from marlzoo.suggest import closest


def find_config_dir() -> Path:
    """The ``configs/`` directory, found as the package resource ``marlzoo.configs``: the
    repository's ``configs/`` under an editable install, the copy inside site-packages otherwise."""
    return Path(str(importlib.resources.files("marlzoo.configs")))


CONFIG_DIR = find_config_dir()
CLI = "the command line"
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass
class EnvConfig:
    """Which env, its kwargs, and how its rewards and state are read."""

    name: str
    kwargs: dict = field(default_factory=dict)
    reward_aggregation: Literal["sum", "mean"] = "sum"
    episode_limit: int | None = None
    state: Literal["auto", "env", "concat_obs"] = "auto"
    scale_obs: bool = False  # scale vector observations from their finite Box bounds to [0, 1]
    # "vectorised": mpe2's tasks as marlzoo's numpy batch (marlzoo/envs/mpe); "pettingzoo": adapters;
    # "auto": vectorised where it covers the env and its kwargs, else pettingzoo (the same numbers)
    backend: Literal["auto", "pettingzoo", "vectorised"] = "auto"
    # How learners read an episode cut off by its time limit: ``truncate`` bootstraps from the state
    # it reached; ``terminate`` treats the cut as the episode's end (a finite-horizon value).
    time_limit: Literal["truncate", "terminate"] = "truncate"
    # Worker processes that step the pettingzoo backend's copies (0 or 1: this process); the
    # numbers are the same either way, only the speed differs (marlzoo/envs/subproc.py).
    n_workers: int = 0


@dataclass
class WandbConfig:
    """Weights & Biases: ``auto`` logs online with credentials and offline without."""

    mode: Literal["auto", "online", "offline", "disabled"] = "auto"
    project: str = "marlzoo"
    entity: str | None = None
    group: str | None = None
    # seconds an online run waits for W&B's server before it logs offline (not in cache keys: no wandb key is)
    init_timeout: float = field(default=15.0, metadata={RANGE: POSITIVE})


@dataclass(kw_only=True)
class RunSettings:
    """The top-level keys of a config, validated before the algorithm's own section joins them."""

    env: EnvConfig
    wandb: WandbConfig
    seed: int
    steps: int
    n_envs: int
    log_interval: int
    test_interval: int
    test_episodes: int
    checkpoint_interval: int
    device: str
    torch_threads: int
    # "process": learn in a second process while this one collects (replay-based algorithms; see
    # marlzoo/training/learner_process.py). A default here keeps configs written before the key existed valid.
    learner: Literal["inline", "process"] = "inline"
    # Checkpoint scheduling (it never changes a run's numbers, so it is left out of the reproduce cache key).
    checkpoint_at_test: bool = True  # also checkpoint at every evaluation
    keep_checkpoints: int = 0        # keep the newest K step-numbered checkpoints in checkpoints/, besides checkpoint.pt
    checkpoint_buffer: bool = True   # put the replay buffer in checkpoints (resume is exact only with it)


@dataclass(kw_only=True)
class RunConfig(RunSettings):
    """A fully resolved run. ``algo`` is the algorithm's own Config; ``algo_name`` its registered name."""

    algo_name: str
    algo: Any

    def to_dict(self) -> dict[str, Any]:
        """The nested-dict form written to config.yaml (and read back by :func:`config_from_file`)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("algo_name", "algo")}
        out: dict[str, Any] = {"algo": {"name": self.algo_name, **dataclasses.asdict(self.algo)}}
        for key, value in data.items():
            out[key] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        return out


# ------------------------------------------------------------------------------- reading layers
MAX_YAML_VALUES = 100_000


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many values ``node`` holds once YAML aliases are expanded (shared nodes counted each time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_YAML_VALUES + 1  # an alias of itself expands forever
    if isinstance(node, dict):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.items())
    elif isinstance(node, list):
        size = 1 + sum(_expanded_size(v, memo) for v in node)
    else:
        size = 1
    memo[key] = min(size, MAX_YAML_VALUES + 1)
    return memo[key]


def check_yaml_size(data: Any, label: str) -> Any:
    """``data``, unless YAML aliases expand it past :data:`MAX_YAML_VALUES` values (an alias bomb,
    which would hang whatever prints or copies it)."""
    if _expanded_size(data, {}) > MAX_YAML_VALUES:
        raise UserError(f"{label} expands to more than {MAX_YAML_VALUES:,} values through YAML aliases; "
                        "write the values out, without nested aliases")
    return data


def read_yaml(path: Path, label: str | None = None) -> dict[str, Any]:
    """A YAML mapping from ``path`` (``yaml.safe_load``); a clear error if missing or malformed."""
    label = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read config file {label}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"config file {label} is not UTF-8 text; pass a YAML file") from None
    try:
        data = check_yaml_size(yaml.safe_load(text), f"config file {label}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"config file {label} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {label} must hold a mapping of keys, not a {type(data).__name__}")
    return data


def parse_set(item: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}``, the value read as YAML (``4``, ``true``, ``[1, 2]``)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set takes key=value (for example --set algo.lr=0.001), not '{item}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    check_yaml_size(value, f"--set {key.strip()}")
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def sets_layer(sets: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """The ``--set key=value`` items as one config layer."""
    layer: dict[str, Any] = {}
    for item in sets or []:
        layer = merge([(layer, CLI), (parse_set(item), CLI)])[0]
    return layer


def merge(layers: list[tuple[dict[str, Any], str]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge the layers in order; returns the result and ``dotted key -> layer label``."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def walk(dst: dict, src: dict, prefix: str, label: str) -> None:
        for key, value in src.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and isinstance(dst.get(key), dict):
                walk(dst[key], value, dotted + ".", label)
            else:
                dst[key] = value
                sources[dotted] = label
                if isinstance(value, dict):
                    _mark(value, dotted + ".", label)

    def _mark(node: dict, prefix: str, label: str) -> None:
        for key, value in node.items():
            sources[f"{prefix}{key}"] = label
            if isinstance(value, dict):
                _mark(value, f"{prefix}{key}.", label)

    for data, label in layers:
        walk(merged, data, "", label)
    return merged, sources


# ------------------------------------------------------------------------------- validation
def _source(key: str, sources: dict[str, str]) -> str:
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        label = sources.get(".".join(parts[:end]))
        if label:
            return f" (from {label})"
    return ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str, sources: dict[str, str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, key, sources)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for candidate in inner:
            try:
                return _coerce(candidate, value, key, sources)
            except UserError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        if value in args:
            return value
        raise UserError(f"config key '{key}' must be one of {', '.join(map(repr, args))}, not {_short(value)}{_source(key, sources)}")
    if tp is Any:
        return value
    expected = origin or tp
    if expected is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        dict: lambda v: isinstance(v, dict),
        list: lambda v: isinstance(v, list),
        tuple: lambda v: isinstance(v, (list, tuple)),
    }.get(expected, lambda v: True)(value)
    if not ok:
        raise UserError(
            f"config key '{key}' must be {_type_name(expected)}, not {type(value).__name__} {_short(value)}{_source(key, sources)}"
        )
    if expected is float:
        return float(value)
    if expected is tuple:
        return tuple(value)
    return value


def build_dataclass(cls: type, data: Any, prefix: str, sources: dict[str, str]) -> Any:
    """Validate a mapping into ``cls``: unknown keys, missing keys and wrong types are :class:`UserError`."""
    if not isinstance(data, dict):
        raise UserError(f"config key '{prefix}' must be a mapping, not {type(data).__name__}{_source(prefix, sources)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            hint = closest(str(key), fields)
            raise UserError(
                f"unknown config key '{dotted}'{_source(dotted, sources)}"
                + (f"; did you mean '{(prefix + '.') if prefix else ''}{hint}'?" if hint else "")
            )
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], dotted, sources)
            problem = out_of_range(f, kwargs[name])
            if problem:
                raise UserError(f"config key '{dotted}' {problem}, not {_short(kwargs[name])}{_source(dotted, sources)}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError(f"config key '{dotted}' is missing; set it in a config file or with --set {dotted}=...")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        origins = sorted({sources.get(f"{prefix}.{k}" if prefix else str(k), "") for k in data} - {""})
        origin = f" (its keys set in {', '.join(origins)})" if origins else ""
        raise UserError(f"config section '{prefix or 'top level'}'{origin}: {exc}") from None


def build_run_config(data: dict[str, Any], sources: dict[str, str]) -> RunConfig:
    """Validate a merged config dict into a :class:`RunConfig`."""
    from marlzoo.registry import get_algo

    data = dict(data)
    _check_sections(data, sources)
    algo_section = dict(data.pop("algo", None) or {})
    algo_name = algo_section.pop("name", None)
    if not isinstance(algo_name, str):
        raise UserError("no algorithm given; pass --algo NAME (`marlzoo list` shows them)")
    algo_cls = get_algo(algo_name)
    algo_config = build_dataclass(algo_cls.Config, algo_section, "algo", sources)

    top_fields = {f.name for f in dataclasses.fields(RunSettings)}
    for key in data:
        if key not in top_fields:
            hint = closest(str(key), top_fields | {"algo"})
            raise UserError(
                f"unknown config key '{key}'{_source(str(key), sources)}" + (f"; did you mean '{hint}'?" if hint else "")
            )
    settings = build_dataclass(RunSettings, data, "", sources)
    config = RunConfig(algo_name=algo_name, algo=algo_config,
                       **{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)})
    _check_device(config.device)  # numeric ranges were checked key by key (marlzoo/ranges.py)
    return config


SECTIONS = ("algo", "env", "wandb")


def _check_sections(layer: dict[str, Any], sources: dict[str, str] | str) -> None:
    """A :class:`UserError` if a layer sets a whole section (``algo``, ``env``, ``wandb``) to a scalar."""
    for section in SECTIONS:
        value = layer.get(section)
        if value is not None and not isinstance(value, dict):
            where = _source(section, sources) if isinstance(sources, dict) else f" (from {sources})"
            raise UserError(f"config key '{section}' is a section of keys, not the {type(value).__name__} "
                            f"{_short(value)}{where}; set its keys instead, e.g. {section}.name")




def _check_device(device: str) -> None:
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise UserError(f"config key 'device' must name a torch device such as cpu or cuda, not {device!r}") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(kind, False):
        raise UserError(f"device '{device}' is not available in this torch build ({torch.__version__}); use device=cpu")


def _short(value: Any) -> str:
    """A repr of ``value`` cut to a line, however deep or long it is (error messages quote user values)."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()  # its keyword arguments are Python 3.12's
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 6, 6, 60, 60


# ------------------------------------------------------------------------------- entry points
def load_config(
    algo: str | None = None,
    env: str | None = None,
    config_file: str | Path | None = None,
    sets: list[str] | None = None,
    steps: int | None = None,
    seed: int | None = None,
    extra_layers: list[tuple[dict[str, Any], str]] | None = None,
) -> RunConfig:
    """Merge every layer for this algorithm and env, and validate the result."""
    default = read_yaml(CONFIG_DIR / "default.yaml", "configs/default.yaml")
    user = read_yaml(Path(config_file)) if config_file else {}
    cli = sets_layer(sets)
    for layer, label in ((default, "configs/default.yaml"), (user, str(config_file)), (cli, CLI),
                         *(extra_layers or [])):
        _check_sections(layer, label)
    if steps is not None:
        cli["steps"] = steps
    if seed is not None:
        cli["seed"] = seed
    if algo is not None:
        cli.setdefault("algo", {})["name"] = algo
    if env is not None:
        cli.setdefault("env", {})["name"] = env

    def chosen(section: str) -> Any:
        for layer in (cli, *(d for d, _ in reversed(extra_layers or [])), user, default):
            value = layer.get(section)
            if isinstance(value, dict) and value.get("name") is not None:
                return value["name"]
        return None

    layers: list[tuple[dict[str, Any], str]] = [(default, "configs/default.yaml")]
    for kind, name in (("algos", chosen("algo")), ("envs", chosen("env"))):
        path = CONFIG_DIR / kind / f"{name}.yaml" if isinstance(name, str) and "/" not in name else None
        if path is not None and path.is_file():
            layer = read_yaml(path, f"configs/{kind}/{name}.yaml")
            _check_sections(layer, f"configs/{kind}/{name}.yaml")
            if kind == "envs":
                layer = _algo_keys_it_has(layer, chosen("algo"), f"configs/{kind}/{name}.yaml")
            layers.append((layer, f"configs/{kind}/{name}.yaml"))
    if config_file:
        layers.append((user, str(config_file)))
    layers.extend(extra_layers or [])
    layers.append((cli, CLI))
    merged, sources = merge(layers)
    return build_run_config(merged, sources)


def _algo_keys_it_has(layer: dict[str, Any], algo_name: Any, source: str) -> dict[str, Any]:
    """An env's own config may tune algorithm keys (say, a smaller replay buffer for an image env);
    each applies to the algorithms whose Config has that key and is left out for the others. A key
    that no installed algorithm has is a typo, and an error."""
    section = layer.get("algo")
    if not isinstance(section, dict) or not isinstance(algo_name, str):
        return layer
    from marlzoo.registry import algo_names, get_algo

    def fields(name: str) -> set[str]:
        return {f.name for f in dataclasses.fields(get_algo(name).Config)} | {"name"}

    def fields_if_loadable(name: str) -> set[str]:  # a broken plugin must not break other runs
        try:
            return fields(name)
        except Exception:
            return set()

    known = fields(algo_name)
    unknown = [k for k in section if k not in known]
    if unknown:
        anywhere = set().union(*(fields_if_loadable(name) for name in algo_names()))
        for key in unknown:
            if key not in anywhere:
                hint = closest(str(key), anywhere)
                raise UserError(f"unknown config key 'algo.{key}' (from {source}): no installed algorithm has it"
                                + (f"; did you mean 'algo.{hint}'?" if hint else ""))
    return {**layer, "algo": {k: v for k, v in section.items() if k in known}}


def config_from_file(path: Path, sets: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A run's resolved config.yaml, validated again, with ``sets`` (``key=value``) over it."""
    data = read_yaml(path)
    layer = sets_layer(sets)
    _check_sections(layer, CLI)
    merged, sources = merge([(data, str(path)), (layer, CLI)])
    return build_run_config(merged, sources)


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
