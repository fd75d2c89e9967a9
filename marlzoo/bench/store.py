"""A table's directory of finished cells, and the cache keys that say whether a cell is current.

``<out>/runs/<table>/<algo>/<env>/seed<k>/`` holds a finished cell's ``metrics.jsonl``, ``run.json``,
``config.yaml`` (and ``checkpoint.pt`` if kept) beside ``cell.json``, which records its key and the
fingerprint of the code that made it (:mod:`marlzoo.bench.fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import marlzoo
from marlzoo.bench.fingerprint import code_changes, code_fingerprint
from marlzoo.bench.tables import Cell, TableSpec
from marlzoo.config import RunConfig
from marlzoo.errors import UserError
from marlzoo.training.runinfo import write_json_atomic

ARTIFACTS = ("metrics.jsonl", "run.json", "config.yaml")
CHECKPOINT = "checkpoint.pt"
CELL_FILE = "cell.json"
SCRATCH = ".scratch"


# ------------------------------------------------------------------------------ cache keys
# Config keys (dotted for nested sections) added in 0.1.0 after tables were cached, and their defaults.
ADDED_KEYS = {"learner": "inline", "algo.lr_anneal_steps": 0, "env.scale_obs": False, "env.time_limit": "truncate",
              "algo.reward_stats": "sampled"}
# Keys that never change a run's numbers, so they never enter the hash: when checkpoints are written,
# and how the env copies are stepped (the backends and worker processes give byte-identical
# metrics.jsonl files: tests/test_mpe_vectorised.py, tests/test_subproc.py).
UNHASHED_KEYS = ("checkpoint_at_test", "keep_checkpoints", "checkpoint_buffer", "env.backend", "env.n_workers")


def _holder(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any] | None, str]:
    """The section of ``data`` that holds the dotted key, and the key's last part; each nested section
    on the way down is copied, because the config is not ours. None if a section is missing."""
    *sections, key = dotted.split(".")
    holder = data
    for name in sections:
        if not isinstance(holder.get(name), dict):
            return None, key
        holder[name] = dict(holder[name])
        holder = holder[name]
    return holder, key


def cache_key(config: RunConfig | dict[str, Any], version: str = marlzoo.__version__) -> str:
    """The cell's cache key: sha256 of its resolved config (minus ``wandb`` and :data:`UNHASHED_KEYS`)
    and the marlzoo version.

    Keys added after tables were first cached enter the hash only when they differ from their
    default (:data:`ADDED_KEYS`), so adding an option does not invalidate every cached run.
    """
    data = dict(config.to_dict() if isinstance(config, RunConfig) else config)
    data.pop("wandb", None)
    for dotted in UNHASHED_KEYS:
        holder, key = _holder(data, dotted)
        if holder is not None:
            holder.pop(key, None)
    for dotted, default in ADDED_KEYS.items():
        holder, key = _holder(data, dotted)
        if holder is not None and holder.get(key, default) == default:
            holder.pop(key, None)
    blob = json.dumps({"config": data, "marlzoo_version": version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# ------------------------------------------------------------------------------ the table's directory
@dataclass(frozen=True)
class CellState:
    """Whether a cell is cached, and the words for why it is or is not."""

    cached: bool
    reason: str
    fingerprinted: bool = True  # False: cached before cell.json recorded the code
    recorded_code: dict[str, Any] | None = None  # set when the only difference is the code that made the cell

    @property
    def code_changed(self) -> bool:
        """The cell holds a result for its current config, made by other code."""
        return self.recorded_code is not None


class TableStore:
    """``<out>/runs/<table>/``: one directory per finished cell, a scratch area, and a lock."""

    def __init__(self, out: Path, table: str) -> None:
        self.root = out / "runs" / table
        self.scratch = self.root / SCRATCH
        self._lock_file: Any = None

    def cell_dir(self, cell: Cell) -> Path:
        return self.root / cell.algo / cell.env / f"seed{cell.seed}"

    def state(self, cell: Cell, key: str, code: dict[str, Any], checkpoint: bool = False,
              rerun_unfingerprinted: bool = False) -> CellState:
        """Whether the cell's directory holds its result for config ``key`` and ``code`` (its
        :func:`~marlzoo.bench.fingerprint.code_fingerprint`), and why not. A cell made before code
        fingerprints were recorded has none: it counts as cached, and says so, unless ``rerun_unfingerprinted``."""
        d = self.cell_dir(cell)
        try:
            meta = json.loads((d / CELL_FILE).read_text())
        except (OSError, ValueError):
            return CellState(False, "not cached")
        if not isinstance(meta, dict):
            return CellState(False, "its cell.json is not a record")
        if meta.get("key") != key:
            version = meta.get("marlzoo_version")
            if version and version != marlzoo.__version__:
                return CellState(False, f"marlzoo version changed ({version} -> {marlzoo.__version__})")
            return CellState(False, "config changed")
        if not all((d / name).is_file() for name in ARTIFACTS):
            return CellState(False, "its files are incomplete")
        if checkpoint and not (d / CHECKPOINT).is_file():
            return CellState(False, "no checkpoint kept")
        recorded = meta.get("code")
        if not isinstance(recorded, dict):
            if rerun_unfingerprinted:
                return CellState(False, "made before code fingerprints (--rerun-unfingerprinted)", fingerprinted=False)
            return CellState(True, "cached (made before code fingerprints)", fingerprinted=False)
        changes = code_changes(recorded, code)
        if changes:
            return CellState(False, f"code changed: {', '.join(changes)}", recorded_code=recorded)
        return CellState(True, "cached")

    def open(self) -> None:
        """Take the table's lock (one reproduce per table at a time) and clear a killed call's scratch."""
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text(f"# scratch of running cells, the lock, and W&B's offline files stay local\n{SCRATCH}/\n.lock\nwandb/\n")
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            fcntl = None
        self._lock_file = open(self.root / ".lock", "w")
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock_file.close()
                raise UserError(f"another `marlzoo reproduce` is running on {self.root}; wait for it to finish") from None
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir()

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def accept_code(self, cell: Cell, code: dict[str, Any], because: str) -> None:
        """Record in the cell's ``cell.json`` that its result holds for ``code`` too (``because`` says
        what showed it), keeping the code that made it under ``code_history``."""
        path = self.cell_dir(cell) / CELL_FILE
        meta = json.loads(path.read_text())
        history = [*meta.get("code_history", []), {
            "code": meta.get("code"), "replaced_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "because": because}]
        write_json_atomic(path, {**meta, "code": code, "code_history": history})

    def commit(self, cell: Cell, key: str, scratch: str | None, result: dict[str, Any], meta: dict[str, Any]) -> Path:
        """Write a finished cell's artifacts, then rename them into place in one step."""
        final = self.cell_dir(cell)
        staging = Path(tempfile.mkdtemp(prefix="commit-", dir=self.scratch))
        staging.chmod(0o755)  # mkdtemp's 0700 is for secrets; these are results to share
        for name, data in result["files"].items():
            (staging / name).write_bytes(data)
        run_dir = Path(result["run_dir"])
        same_host = result["host"] == socket.gethostname()
        if same_host and (run_dir / "wandb").is_dir():
            shutil.move(str(run_dir / "wandb"), str(staging / "wandb"))  # offline W&B files, for `wandb sync`
        elif result.get("kept_dir"):
            meta = {**meta, "worker_run_dir": result["kept_dir"]}  # where a cluster worker left offline W&B files
        (staging / CELL_FILE).write_text(json.dumps({"cell": cell.name, "key": key, **meta}, indent=2) + "\n")
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():  # a stale cell (another config or version): swap it out
            old = Path(tempfile.mkdtemp(prefix="stale-", dir=self.scratch))
            os.replace(final, old / "cell")
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if same_host:
            shutil.rmtree(run_dir if scratch else run_dir.parent, ignore_errors=True)
        return final


def cells_of(spec: TableSpec, store: TableStore) -> Iterable[tuple[Cell, Path]]:
    """The table's finished cells with the current key and code, and their directories."""
    for cell in spec.cells:
        if store.state(cell, cache_key(cell.config), code_fingerprint(cell.config.algo_name)).cached:
            yield cell, store.cell_dir(cell)
