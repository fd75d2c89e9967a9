"""Training from Python, the same as ``marlzoo run`` but in this process.

An algorithm registered here with :func:`marlzoo.register_algo` (in a notebook, say) is visible only
to this process, so a ``marlzoo run`` subprocess cannot train it; :func:`train` can.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

from marlzoo.errors import UserError


def train(
    algo: str,
    env: str,
    *,
    steps: int | None = None,
    seed: int | None = None,
    sets: Sequence[str] | str = (),
    config_file: str | Path | None = None,
    run_dir: str | Path = "runs",
    run_id: str | None = None,
    wandb: str | None = None,
    progress: bool | str = True,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """Train ``algo`` on ``env`` into a fresh ``<run_dir>/<run_id>/`` and return its ``run.json``
    contents, plus ``run_dir``. Arguments mean what ``marlzoo run``'s options mean; ``sets`` holds
    ``key=value`` overrides, e.g. ``["algo.lr=0.001"]``, and ``wandb`` is a W&B mode
    (``"disabled"``, ``"offline"``, ...). ``progress`` is ``True`` (a bar on a terminal or in a notebook,
    plain lines elsewhere), ``"evaluations"`` (a line per evaluation only) or ``False`` (silent);
    ``tensorboard=True`` also writes TensorBoard event files to ``<run>/tensorboard/``.

    Bad input raises :class:`marlzoo.UserError`, and a run that fails before it wrote a checkpoint or
    a row of metrics leaves nothing behind; one that fails later keeps its directory. Like ``marlzoo run``, it seeds the global RNGs and sets torch's thread
    count to the config's ``torch_threads`` (1 by default), in this process.
    """
    from marlzoo.config import load_config
    from marlzoo.training.trainer import Trainer, new_run_dir

    overrides = [sets] if isinstance(sets, str) else list(sets)
    if wandb is not None:
        overrides.append(f"wandb.mode={wandb}")
    config = load_config(algo, env, config_file, overrides, steps, seed)
    parent = Path(run_dir)
    created = _first_missing(parent)
    directory = new_run_dir(parent, config, run_id)
    try:
        info = Trainer(config, directory, show_progress=progress, tensorboard=tensorboard).train()
    except BaseException:
        if not _holds_results(directory):
            _remove_fresh(directory, created)
        raise
    return {**info, "run_dir": str(directory)}


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    wandb: str | None = None,
    progress: bool | str = True,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """Go on with the stopped run in ``run_dir`` (killed, interrupted, or failed after a checkpoint)
    from its last checkpoint, to its own ``steps`` or to a larger ``steps``; returns what
    :func:`train` returns. The rows of metrics.jsonl logged after the checkpoint are dropped first,
    so the run ends with the file an unbroken run writes. Bad input raises :class:`marlzoo.UserError`:
    no such run, a run still running, no checkpoint, a finished run already at its ``steps``, or a
    checkpoint that does not fit. (A run killed after its final checkpoint, before run.json said
    ``finished``, is only marked finished.)
    """
    from marlzoo.training.checkpoint import load_checkpoint
    from marlzoo.training.evaluate import load_run
    from marlzoo.training.runinfo import read_run_info
    from marlzoo.training.trainer import Trainer

    directory = Path(run_dir)
    config = load_run(directory)
    info = read_run_info(directory)
    if info.get("status") == "running":
        raise UserError(f"run {directory} is still running (pid {info.get('pid')}); stop it before resuming it")
    payload = load_checkpoint(directory / "checkpoint.pt", config.algo_name)
    if "resume" not in payload:
        raise UserError(f"the checkpoint of {directory} holds no resume state (it was written by an older marlzoo); "
                        "it can be evaluated, not resumed")
    done = int(payload["env_steps"])
    if steps is not None:
        if steps <= done:
            raise UserError(f"--steps {steps} is not past the checkpoint of {directory}, at env step {done}; "
                            "pass a larger --steps")
        config.steps = steps
    elif done >= config.steps and info.get("status") == "finished":
        raise UserError(f"run {directory} already reached its {config.steps} env steps; pass a larger --steps "
                        "to train it on")
    if wandb is not None:
        config.wandb.mode = wandb
    if progress:
        print(f"resuming {directory} from its checkpoint at env step {done:,} (of {config.steps:,})", flush=True)
    info = Trainer(config, directory, show_progress=progress, tensorboard=tensorboard, resume=payload).train()
    return {**info, "run_dir": str(directory)}


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet (None if all of it does)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _holds_results(run_dir: Path) -> bool:
    """Whether a failed run wrote anything worth keeping: a checkpoint, or a row of metrics. (Not
    run.json's step count: the failure may be the disk that could not take run.json.)"""
    metrics = run_dir / "metrics.jsonl"
    return (run_dir / "checkpoint.pt").is_file() or (metrics.is_file() and metrics.stat().st_size > 0)


def _remove_fresh(run_dir: Path, created: Path | None) -> None:
    """Remove a run directory this call created (new_run_dir never reuses one), and the directories
    above it that the call created too, if that leaves them empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if created is None:
        return
    for directory in (run_dir.parent, *run_dir.parent.parents):
        try:
            directory.rmdir()
        except OSError:
            break
        if directory == created:
            break
