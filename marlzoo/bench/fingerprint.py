"""The fingerprint of the code that trains a table cell, recorded in its ``cell.json``.

Two parts, each compared on its own so that ``--dry-run`` can say which changed:

``marlzoo``
    marlzoo's own source that can change what a run computes: every ``marlzoo/**/*.py`` except
    :data:`NOT_TRAINING` (the bench, the command line, console output, error wording, rendering).
``algo``
    the algorithm's module and the modules it imports, transitively, from its own package or from
    the built-in algorithms (a built-in's ``marlzoo/algos/<name>.py``, and ``mappo.py`` too for
    ``ippo``, which builds on it); for a plugin, also its distribution's name and version (``algo_dist``).

Each file counts by its syntax tree without docstrings, so editing a comment, a docstring or the
layout changes nothing, while editing a line of code changes the part it is in. A process reads
the files once (the fingerprints are cached; ``forget()`` clears them).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

MARLZOO_ROOT = Path(__file__).resolve().parent.parent
# Relative to marlzoo/: code that shows, checks or tabulates runs, never what they compute.
NOT_TRAINING = ("bench/", "cli.py", "errors.py", "suggest.py", "_moved.py", "training/progress.py",
                "training/animation.py")
IN_ALGO_PART = ("algos/", "configs/")  # where an installed marlzoo keeps the built-in algorithms (and YAML)
BUILT_INS = "marlzoo.algos"
PARTS = {"marlzoo": "marlzoo's training source", "algo": "the algorithm's source", "algo_dist": "the plugin's version"}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def source_digest(path: Path) -> str:
    """The file's code, without comments, docstrings and layout (its raw bytes if it does not parse)."""
    data = path.read_bytes()
    try:
        return ast.unparse(_without_docstrings(ast.parse(data)))  # steadier across Pythons than ast.dump
    except (SyntaxError, ValueError):
        return data.hex()


def _hash(named_digests: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for name, digest in sorted(named_digests):
        h.update(f"{name}\0{digest}\0".encode())
    return h.hexdigest()[:16]


def training_files(root: Path | None = None) -> list[Path]:
    """marlzoo's files that enter the ``marlzoo`` part (under ``root``, by default marlzoo's own directory)."""
    root = root or MARLZOO_ROOT
    return sorted(p for p in root.rglob("*.py")
                  if not p.relative_to(root).as_posix().startswith(NOT_TRAINING + IN_ALGO_PART)
                  and "__pycache__" not in p.parts)


@lru_cache(maxsize=None)
def marlzoo_fingerprint() -> str:
    return _hash([(p.relative_to(MARLZOO_ROOT).as_posix(), source_digest(p)) for p in training_files(MARLZOO_ROOT)])


def _module_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if path is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        path = spec.origin if spec is not None else None
    return Path(path) if path and path.endswith(".py") else None


def _imported_names(path: Path, module: str) -> set[str]:
    """The modules ``path`` imports (absolute names; ``from x import y`` also counts as ``x.y``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return names


def algorithm_modules(module: str) -> dict[str, Path]:
    """``module`` and the modules it imports, transitively, from its own top-level package or from
    marlzoo's built-in algorithms (a plugin may build on one): name -> file."""
    own = (module.split(".")[0] + ".", BUILT_INS + ".") if not module.startswith(BUILT_INS + ".") else (BUILT_INS + ".",)
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = None if name in found else _module_file(name)
        if path is None:
            continue
        found[name] = path
        todo += [n for n in _imported_names(path, name) if n.startswith(own) and n not in found]
    return found


def _distribution(module: str) -> str | None:
    """``name version`` of the installed distribution that provides ``module``'s top-level package, if any."""
    if module.startswith("marlzoo."):
        return None
    dists = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    if not dists:
        return None
    try:
        return f"{dists[0]} {importlib.metadata.version(dists[0])}"
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=None)
def algorithm_fingerprint(algo_name: str) -> tuple[str, tuple[str, ...], str | None]:
    """The algorithm's part: its hash, the modules in it, and a plugin's distribution."""
    from marlzoo.registry import get_algo

    cls = get_algo(algo_name)
    modules = algorithm_modules(cls.__module__)
    if modules:
        digest = _hash([(name, source_digest(path)) for name, path in modules.items()])
    else:  # defined in a notebook or ``python -c``: its class's source, if Python can find it
        try:
            digest = hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()[:16]
        except (OSError, TypeError):
            digest = "no source"
    return digest, tuple(sorted(modules)), _distribution(cls.__module__)


def code_fingerprint(algo_name: str) -> dict[str, Any]:
    """What ``cell.json`` records under ``code`` for a cell of ``algo_name``."""
    algo, modules, dist = algorithm_fingerprint(algo_name)
    return {"marlzoo": marlzoo_fingerprint(), "algo": algo, "algo_modules": list(modules), "algo_dist": dist}


def code_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty: the same code)."""
    changes = []
    for part, words in PARTS.items():
        if recorded.get(part) != current.get(part):
            if part == "algo":
                words += f" ({', '.join(current.get('algo_modules') or []) or 'no module file'})"
            elif part == "algo_dist":
                words += f" ({recorded.get(part)} -> {current.get(part)})"
            changes.append(words)
    return changes


def forget() -> None:
    """Read the files again at the next fingerprint (after editing code in a long-lived process)."""
    marlzoo_fingerprint.cache_clear()
    algorithm_fingerprint.cache_clear()
