"""Random streams as plain data, for checkpoints that load with ``torch.load(weights_only=True)``.

Two kinds of stream are saved and restored:

* the global ones: Python's ``random``, numpy's legacy ``np.random`` and torch's CPU generator
  (:func:`global_rng_state`, :func:`set_global_rng_state`);
* the generators an object keeps for itself (an algorithm's exploration generator, an env's
  ``np_random``): :func:`object_rng_state` finds every ``np.random.Generator``, ``RandomState``,
  ``random.Random`` and ``torch.Generator`` among an object's attributes, and the attributes of the
  objects they hold (wrappers, worlds, heads), and :func:`set_object_rng_state` puts them back in place.

Reading a state never draws a number, so saving a checkpoint does not change a run.
"""

from __future__ import annotations

import random
import types
from typing import Any, Iterator

import numpy as np
import torch

MAX_DEPTH = 6  # env wrappers nest a few deep (order enforcing, conversion, SuperSuit, the raw env, its world)
# Never searched: values, arrays, networks, and the namespaces of modules, classes and functions.
_LEAVES = (str, bytes, int, float, bool, type(None), np.ndarray, torch.Tensor, torch.nn.Module,
           torch.optim.Optimizer, type, types.ModuleType, types.FunctionType, types.MethodType)


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into tensors and Python numbers (weights_only loads them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _numpy(value: Any) -> Any:
    """The inverse of :func:`_plain` where numpy wants arrays back (a RandomState's key)."""
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return value


def global_rng_state() -> dict[str, Any]:
    """Python's, numpy's and torch's global random states."""
    version, internal, gauss = random.getstate()
    return {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": _plain(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(x) for x in python["internal"].tolist()), python["gauss"]))
    np.random.set_state(_numpy(state["numpy"]))
    torch.set_rng_state(state["torch"])


GENERATORS = (np.random.Generator, np.random.RandomState, random.Random, torch.Generator)
Path_ = tuple  # the keys from an object down to one of its generators: attribute names, dict keys, list indices


def _generators(obj: Any, path: Path_, depth: int, seen: set[int]) -> Iterator[tuple[Path_, Any]]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, GENERATORS):
        yield path, obj
        return
    if depth >= MAX_DEPTH or isinstance(obj, _LEAVES):
        return
    if isinstance(obj, (list, tuple)):
        items: Any = enumerate(obj)
    elif isinstance(obj, dict):
        items = ((k, v) for k, v in obj.items() if isinstance(k, (str, int)))
    else:
        try:
            items = vars(obj).items()  # vars, not getattr: PettingZoo wrappers forward unknown names
        except TypeError:
            return
    for key, value in list(items):
        yield from _generators(value, (*path, key), depth + 1, seen)


def generator_paths(obj: Any) -> list[Path_]:
    """Where ``obj``'s generators are (a search of its attributes; see the module docstring)."""
    return [path for path, _ in _generators(obj, (), 0, set())]


def _at(obj: Any, path: Path_) -> Any:
    """The generator at ``path`` below ``obj``, or None if the path no longer leads to one."""
    for key in path:
        try:
            obj = obj[key] if isinstance(obj, (list, tuple, dict)) else vars(obj)[key]
        except (KeyError, IndexError, TypeError):
            return None
    return obj if isinstance(obj, GENERATORS) else None


def _state_of(gen: Any) -> dict[str, Any]:
    if isinstance(gen, np.random.Generator):
        return {"kind": "numpy", "state": _plain(gen.bit_generator.state)}
    if isinstance(gen, np.random.RandomState):
        return {"kind": "legacy", "state": _plain(gen.get_state(legacy=False))}
    if isinstance(gen, random.Random):
        version, internal, gauss = gen.getstate()
        return {"kind": "python", "state": [version, list(internal), gauss]}
    return {"kind": "torch", "state": gen.get_state()}


def object_rng_state(obj: Any, paths: list[Path_] | None = None) -> dict[str, Any] | None:
    """The state of every random generator ``obj`` holds, keyed by its dotted path. With ``paths``
    (from :func:`generator_paths`), only the generators there, without a search; None if one of
    them is no longer a generator."""
    found = _generators(obj, (), 0, set()) if paths is None else ((path, _at(obj, path)) for path in paths)
    states: dict[str, Any] = {}
    for path, gen in found:
        if gen is None:
            return None
        states[".".join(map(str, path))] = {"path": list(path), **_state_of(gen)}
    return states


def set_object_rng_state(obj: Any, states: dict[str, Any], exact: bool = True) -> None:
    """Put the states :func:`object_rng_state` returned back into ``obj``'s generators, in place.

    Raises ``ValueError`` if a saved generator is not where it was, or, when ``exact``, if ``obj``
    holds generators elsewhere too (another env or algorithm than the one saved).
    """
    if exact:
        found = {".".join(map(str, path)) for path in generator_paths(obj)}
        if found != set(states):
            raise ValueError(f"random generators at {sorted(found)}, but the checkpoint has {sorted(states)}")
    for name, saved in states.items():
        gen, state = _at(obj, tuple(saved["path"])), saved["state"]
        if gen is None:
            raise ValueError(f"no random generator at {name}, where the checkpoint has one")
        if saved["kind"] == "numpy":
            gen.bit_generator.state = _numpy(state)
        elif saved["kind"] == "legacy":
            gen.set_state(_numpy(state))
        elif saved["kind"] == "python":
            gen.setstate((state[0], tuple(state[1]), state[2]))
        else:
            gen.set_state(state)
