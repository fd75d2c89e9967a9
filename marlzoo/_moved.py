"""Old import paths of modules that moved, kept working for one version with a DeprecationWarning.

marlzoo 0.1 had a flat package (``marlzoo.qlearning``, ``marlzoo.rollouts``, ...) and installed its
algorithms as a top-level ``algos`` package. Both moved: the framework into subpackages that name
their room, the algorithms to ``marlzoo.algos``. A finder at the front of ``sys.meta_path`` answers
only for the old names, hands back the module at its new
path (the same module object, so classes and registrations stay one), and warns once per name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

_ROOMS = {
    "training": ("trainer", "loops", "runner", "rollouts", "buffers", "learner_process", "checkpoint", "metrics",
                 "progress", "runinfo", "evaluate"),
    "learning": ("nets", "encoders", "distributions", "exploration", "normalise", "qlearning", "qtable"),
    "bench": ("tables", "reproduce", "results", "stats"),
}
MOVED: dict[str, str] = {f"marlzoo.{name}": f"marlzoo.{room}.{name}" for room, names in _ROOMS.items() for name in names}
REMOVED_IN = "0.3"


def new_name(old: str) -> str | None:
    """Where the module once imported as ``old`` lives now (None if it did not move)."""
    if old in MOVED:
        return MOVED[old]
    if old == "algos" or old.startswith("algos."):
        return "marlzoo." + old
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # a placeholder module; exec_module swaps the real one in

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"'{module.__name__}' moved to '{self.target}'; import it from there "
            f"(the old path goes in marlzoo {REMOVED_IN})",
            DeprecationWarning, stacklevel=2,
        )
        sys.modules[module.__name__] = importlib.import_module(self.target)


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves the old module paths (see the module docstring); first on ``sys.meta_path``, so a
    submodule of the old ``algos`` is the module of ``marlzoo.algos``, never a second copy of it."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        if fullname == "algos" and importlib.machinery.PathFinder.find_spec(fullname) is not None:
            return None  # a package of the user's own (or a source tree's folder) named algos wins
        if fullname.startswith("algos.") and sys.modules.get("algos") is not sys.modules.get("marlzoo.algos"):
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new), is_package=fullname == "algos")


def install() -> None:
    """Put the finder at the front of ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
