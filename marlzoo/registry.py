"""Finding algorithms by name: the ``marlzoo.algos`` entry points, plus in-process registrations.

The built-in algorithms are entry points of the marlzoo distribution itself, exactly as a
third-party package declares its own in its setup.cfg::

    [options.entry_points]
    marlzoo.algos =
        my_algo = my_package.my_module:MyAlgo
"""

from __future__ import annotations

import importlib.metadata
from typing import Callable, TypeVar

from marlzoo.algorithm import Algorithm, check_algorithm_class
from marlzoo.errors import UserError
from marlzoo.suggest import closest

ENTRY_POINT_GROUP = "marlzoo.algos"
_IN_PROCESS: dict[str, type[Algorithm]] = {}

A = TypeVar("A", bound=type[Algorithm])


def register_algo(name: str) -> Callable[[A], A]:
    """Class decorator registering an algorithm in this process (for notebooks and tests).

    A class that is no :class:`~marlzoo.ReplayAlgorithm` or :class:`~marlzoo.RolloutAlgorithm`, or
    lacks one of its base's methods, is refused here with a :class:`UserError` naming what is missing.
    """

    def decorator(cls: A) -> A:
        _IN_PROCESS[name] = check_algorithm_class(cls, name)
        return cls

    return decorator


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def algo_names() -> dict[str, str]:
    """Every known algorithm: name -> where it comes from (``module:Class``)."""
    names = {name: ep.value for name, ep in _entry_points().items()}
    names.update({name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in _IN_PROCESS.items()})
    return dict(sorted(names.items()))


def get_algo(name: str) -> type[Algorithm]:
    """The algorithm class registered as ``name``."""
    if name in _IN_PROCESS:
        return _IN_PROCESS[name]
    points = _entry_points()
    if name not in points:
        hint = closest(name, algo_names())
        raise UserError(
            f"unknown algorithm '{name}'" + (f"; did you mean '{hint}'?" if hint else "")
            + " (`marlzoo list` shows the installed ones)"
        )
    try:
        cls = points[name].load()
    except Exception as exc:  # a broken plugin must not take the CLI down with a traceback
        raise UserError(f"algorithm '{name}' ({points[name].value}) failed to load: {exc}") from None
    return check_algorithm_class(cls, name)
