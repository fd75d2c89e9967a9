"""Named environments, and environments given as ``package.module:factory`` or ``module:GymnasiumId``.

Built-in names map to factories of the cooperative MPE tasks in ``mpe2`` and of marlzoo's
matrix games (:mod:`marlzoo.envs.matrix_games`). Third-party packages add
names through the ``marlzoo.envs`` entry-point group; anything else is reachable by import path.

A name with a colon, ``left:right``, is read in this order (:func:`resolve_env_factory`):

1. ``left`` is imported as a module;
2. if it has a callable attribute ``right``, that is the factory (``package.module:factory``);
3. otherwise ``right`` must be a Gymnasium id that is registered once ``left`` is imported, and the
   factory is ``gymnasium.make(right, ...)``: EPyMARL's spelling, ``lbforaging:Foraging-8x8-2p-2f-coop-v3``
   or ``rware:rware-tiny-2ag-v2`` (Gymnasium ids hold dashes, so they can never be attribute names).

``vmas:<scenario>`` is the exception: it names a VMAS scenario, which runs only as a batched env
(:mod:`marlzoo.envs.vmas_env`), so it is refused here rather than read as ``module:attr``.

Each factory is called with the ``env.kwargs`` of the config and must return a PettingZoo env or a
Gymnasium multi-agent env (Tuple spaces; :mod:`marlzoo.envs.gymnasium_ma`). The Gymnasium ids of
``lbforaging`` and ``rware`` get EPyMARL's time limits by default (:data:`EPYMARL_TIME_LIMITS`):
50 steps for LBF, 500 for RWARE; ``env.episode_limit`` overrides them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import reprlib
from typing import Any, Callable

import gymnasium

from marlzoo.envs.adapter import Adapter, make_adapter
from marlzoo.envs.vmas_env import is_vmas_name
from marlzoo.errors import EnvCodeError, UserError
from marlzoo.suggest import closest

BUILTIN_ENVS: dict[str, str] = {
    "simple_spread": "mpe2.simple_spread_v3:parallel_env",
    "simple_speaker_listener": "mpe2.simple_speaker_listener_v4:parallel_env",
    "simple_reference": "mpe2.simple_reference_v3:parallel_env",
    "multiwalker": "pettingzoo.sisl.multiwalker_v9:parallel_env",
    "pistonball": "marlzoo.envs.images:pistonball",  # images, preprocessed
    "hanabi": "pettingzoo.classic.hanabi_v5:env",  # a turn-based AECEnv
    "nonmonotonic": "marlzoo.envs.matrix_games:nonmonotonic",
    "climbing": "marlzoo.envs.matrix_games:climbing",
    "penalty": "marlzoo.envs.matrix_games:penalty",
    "matrix_game": "marlzoo.envs.matrix_games:matrix_game",
}

# EPyMARL's time limits (its env_args.time_limit) for the Gymnasium ids of these packages, by the
# module named before the colon.
EPYMARL_TIME_LIMITS: dict[str, int] = {"lbforaging": 50, "rware": 500}
# The marlzoo extra that installs a module, for the import error.
EXTRAS: dict[str, str] = {"lbforaging": "lbf", "rware": "rware", "pettingzoo.sisl": "sisl",
                          "pettingzoo.butterfly": "butterfly", "pettingzoo.classic": "classic"}


# Built-in envs whose package is not their module's top-level one, and the marlzoo extra that installs it.
BUILTIN_PACKAGES: dict[str, tuple[str, str]] = {
    "multiwalker": ("pettingzoo[sisl]", "sisl"),
    "pistonball": ("pettingzoo[butterfly]", "butterfly"),
    "hanabi": ("pettingzoo[classic]", "classic"),
}
ENV_ENTRY_POINTS = "marlzoo.envs"


def _plugin_envs() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENV_ENTRY_POINTS)}


def env_names() -> dict[str, str]:
    """Every named env: name -> ``module:factory``."""
    return {**BUILTIN_ENVS, **_plugin_envs()}


def env_packages() -> dict[str, tuple[str, str | None]]:
    """Every named env: name -> (the package it comes from, the marlzoo extra that installs it or None).

    Read without importing any env: a built-in's package is its module's top-level package (or, with
    its extra, :data:`BUILTIN_PACKAGES`); a plugin's is the distribution that declares its entry point.
    """
    def top(target: str) -> str:
        return target.partition(":")[0].partition(".")[0]

    packages = {name: BUILTIN_PACKAGES.get(name, (top(target), None)) for name, target in BUILTIN_ENVS.items()}
    for ep in importlib.metadata.entry_points(group=ENV_ENTRY_POINTS):
        packages[ep.name] = (ep.dist.name if ep.dist is not None else top(ep.value), None)
    return packages


def _import(module_name: str, label: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        extra = next((x for m, x in EXTRAS.items() if module_name == m or module_name.startswith(m + ".")), None)
        hint = f" (pip install 'marlzoo[{extra}]')" if extra else ""
        raise UserError(f"env '{label}' needs module '{module_name}', which failed to import: {exc}{hint}") from None
    except Exception as exc:  # the module's own code failed while it was imported
        raise EnvCodeError(label, f"import of module '{module_name}'", exc) from exc


def _gymnasium_ids(module_name: str) -> list[str]:
    """The registered Gymnasium ids whose entry point lies in ``module_name``'s package (else all)."""
    top = module_name.split(".")[0]
    ids = [i for i, spec in gymnasium.registry.items()
           if isinstance(spec.entry_point, str) and spec.entry_point.split(".")[0].split(":")[0] == top]
    return ids or list(gymnasium.registry)


def _resolve(name: str, label: str) -> tuple[Callable[..., Any], int | None]:
    """The factory behind ``module:attr``, and the default time limit that goes with it (or None)."""
    module_name, _, attr = name.partition(":")
    module = _import(module_name, label)
    factory = getattr(module, attr, None) if attr else None
    if callable(factory):
        return factory, None
    if attr in gymnasium.registry:
        # Gymnasium's env checker expects one agent: its warnings about list rewards are noise here.
        make = functools.partial(gymnasium.make, attr, disable_env_checker=True)
        return make, EPYMARL_TIME_LIMITS.get(module_name)
    hint = closest(attr, _gymnasium_ids(module_name)) if attr else None
    raise UserError(
        f"env '{label}': '{module_name}' has no callable '{attr}', and '{attr}' is not a Gymnasium id registered "
        f"by importing it" + (f" (did you mean '{module_name}:{hint}'?)" if hint else "")
        + "; write package.module:factory, or module:GymnasiumId"
    )


def _lookup(name: str) -> tuple[Callable[..., Any], int | None]:
    if is_vmas_name(name):  # never read as module:attr (vmas.make_env is a callable attribute)
        raise UserError(f"env '{name}' is a VMAS scenario: marlzoo runs it only as a batched env on VMAS "
                        "(marlzoo run, and marlzoo eval without --render), not through a one-copy adapter")
    names = env_names()
    if name in names:
        return _resolve(names[name], name)
    if ":" in name:
        return _resolve(name, name)
    hint = closest(name, names)
    raise UserError(
        f"unknown env '{name}'" + (f"; did you mean '{hint}'?" if hint else "")
        + " (`marlzoo list` shows the names; any PettingZoo env works as package.module:factory, and a "
        "Gymnasium multi-agent env as module:GymnasiumId)"
    )


def resolve_env_factory(name: str) -> Callable[..., Any]:
    """The factory behind an env name, a ``package.module:factory`` path or a ``module:GymnasiumId``
    (the module docstring gives the rule that tells the last two apart)."""
    return _lookup(name)[0]


def default_episode_limit(name: str) -> int | None:
    """The time limit ``name`` gets when the config sets none: EPyMARL's for the Gymnasium ids of
    :data:`EPYMARL_TIME_LIMITS`' modules, else None (the env's own)."""
    return _lookup(name)[1]


def _short(value: Any) -> str:
    """A repr of ``value`` cut to a line, however large or deep it is."""
    return reprlib.repr(value)


def make_env(
    name: str,
    kwargs: dict[str, Any] | None = None,
    episode_limit: int | None = None,
    reward_aggregation: str = "sum",
    state: str = "auto",
    scale_obs: bool = False,
    render_mode: str | None = None,
) -> Adapter:
    """Build the named env with ``kwargs`` and wrap it in its adapter (:func:`make_adapter`).

    ``render_mode``, when given, goes to the factory as one more kwarg (replacing one in ``kwargs``);
    an env that does not take it, or whose metadata lists other render modes, is refused.
    """
    factory, default_limit = _lookup(name)
    options = dict(kwargs or {})
    if render_mode is not None:
        options["render_mode"] = render_mode
    if render_mode == "rgb_array":
        # An rgb_array env draws off-screen, but some (multiwalker) still open a pygame display:
        # SDL's dummy driver keeps that window from appearing, unless the user chose a driver.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = factory(**options)
    except TypeError as exc:
        if render_mode is not None:
            raise UserError(f"env '{name}' does not take render_mode='{render_mode}' ({exc}); only an env with an "
                            f"'{render_mode}' render mode can be drawn") from None
        raise UserError(f"env '{name}' rejected its kwargs {_short(kwargs)}: {exc}; check env.kwargs") from None
    except UserError:
        raise
    except Exception as exc:
        raise EnvCodeError(name, "factory", exc) from exc
    modes = getattr(env, "metadata", {}).get("render_modes")
    if render_mode is not None and modes is not None and render_mode not in modes:
        env.close()
        raise UserError(f"env '{name}' has no '{render_mode}' render mode (its metadata lists "
                        f"{', '.join(map(repr, modes)) or 'none'}), so it cannot be drawn")
    try:
        return make_adapter(env, name, episode_limit=episode_limit or default_limit,
                            reward_aggregation=reward_aggregation, state=state, scale_obs=scale_obs)
    except UserError:
        raise
    except Exception as exc:  # the adapter resets the env once to read its spaces and state
        raise EnvCodeError(name, "reset (as marlzoo read its spaces)", exc) from exc
