"""Named environments, and environments given by import path ``package.module:factory``.

Built-in names map to factories of the cooperative MPE tasks in ``mpe2`` and of marlzoo's
matrix games (:mod:`marlzoo.envs.matrix_games`). Third-party packages add
names through the ``marlzoo.envs`` entry-point group; anything else is reachable by import path.
Each factory is called with the ``env.kwargs`` of the config and must return a PettingZoo env.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from typing import Any, Callable

from marlzoo.envs.adapter import Adapter, PettingZooAdapter
from marlzoo.errors import UserError
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


def _load(target: str, label: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"env '{label}' needs module '{module_name}', which failed to import: {exc}") from None
    factory = getattr(module, attr, None) if attr else None
    if factory is None or not callable(factory):
        raise UserError(f"env '{label}': '{module_name}' has no callable '{attr}'; write it as package.module:factory")
    return factory


def resolve_env_factory(name: str) -> Callable[..., Any]:
    """The factory behind an env name or a ``package.module:factory`` path."""
    names = env_names()
    if name in names:
        return _load(names[name], name)
    if ":" in name:
        return _load(name, name)
    hint = closest(name, names)
    raise UserError(
        f"unknown env '{name}'" + (f"; did you mean '{hint}'?" if hint else "")
        + " (`marlzoo list` shows the names; any PettingZoo env works as package.module:factory)"
    )


def make_env(
    name: str,
    kwargs: dict[str, Any] | None = None,
    episode_limit: int | None = None,
    reward_aggregation: str = "sum",
    state: str = "auto",
    render_mode: str | None = None,
) -> Adapter:
    """Build the named env with ``kwargs`` and wrap it in the adapter.

    ``render_mode``, when given, goes to the factory as one more kwarg (replacing one in ``kwargs``);
    an env that does not take it, or whose metadata lists other render modes, is refused.
    """
    factory = resolve_env_factory(name)
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
        raise UserError(f"env '{name}' rejected its kwargs {kwargs}: {exc}; check env.kwargs") from None
    modes = getattr(env, "metadata", {}).get("render_modes")
    if render_mode is not None and modes is not None and render_mode not in modes:
        env.close()
        raise UserError(f"env '{name}' has no '{render_mode}' render mode (its metadata lists "
                        f"{', '.join(map(repr, modes)) or 'none'}), so it cannot be drawn")
    return PettingZooAdapter(env, name, episode_limit=episode_limit, reward_aggregation=reward_aggregation, state=state)
