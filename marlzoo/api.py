"""Training from Python, the same as ``marlzoo run`` but in this process.

An algorithm registered here with :func:`marlzoo.register_algo` (in a notebook, say) is visible only
to this process, so a ``marlzoo run`` subprocess cannot train it; :func:`train` can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def train(
    algo: str,
    env: str,
    *,
    steps: int | None = None,
    seed: int | None = None,
    sets: Sequence[str] = (),
    config_file: str | Path | None = None,
    run_dir: str | Path = "runs",
    run_id: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``algo`` on ``env`` into a fresh ``<run_dir>/<run_id>/`` and return its ``run.json``
    contents, plus ``run_dir``. Arguments mean what ``marlzoo run``'s options mean; ``sets`` holds
    ``key=value`` overrides, e.g. ``["algo.lr=0.001", "wandb.mode=disabled"]``.

    Bad input raises :class:`marlzoo.UserError`; a run that fails to start leaves nothing behind.
    """
    from marlzoo.config import load_config
    from marlzoo.trainer import Trainer, new_run_dir

    config = load_config(algo, env, config_file, list(sets), steps, seed)
    parent = Path(run_dir)
    parent_existed = parent.exists()
    directory = new_run_dir(parent, config, run_id)
    try:
        trainer = Trainer(config, directory, show_progress=progress)
    except BaseException:
        _remove_empty(directory, None if parent_existed else parent)
        raise
    return {**trainer.train(), "run_dir": str(directory)}


def _remove_empty(run_dir: Path, created_parent: Path | None) -> None:
    """Undo a run directory that a failed start created (only ever our own, fresh, files), and the
    parent directory too if this run created it and it is left empty."""
    for name in ("config.yaml", "run.json", "metrics.jsonl"):
        (run_dir / name).unlink(missing_ok=True)
    for directory in (run_dir, created_parent):
        try:
            if directory is not None:
                directory.rmdir()
        except OSError:
            pass
