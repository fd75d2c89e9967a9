"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A run keeps its latest checkpoint in ``<run>/checkpoint.pt`` and, with ``keep_checkpoints: K``, the
newest K also as ``<run>/checkpoints/step_<env steps, 9 digits>.pt`` (hard links where the file
system has them, so a kept checkpoint costs no extra space while it is also the latest).

Besides the algorithm's ``state``, a checkpoint written by the trainer holds ``resume``: the loop's
counters, the replay buffer, every random stream and every env copy's state
(:meth:`marlzoo.training.trainer.Trainer.resume_state`).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import torch

import marlzoo
from marlzoo.errors import UserError

FORMAT = 1


HISTORY_DIR = "checkpoints"


def history_path(run_dir: Path, env_steps: int) -> Path:
    """Where the step-numbered copy of the checkpoint at ``env_steps`` goes."""
    return run_dir / HISTORY_DIR / f"step_{env_steps:09d}.pt"


def keep_history(latest: Path, run_dir: Path, env_steps: int, keep: int) -> None:
    """Keep ``latest`` (just written) as the step-numbered checkpoint at ``env_steps``, and remove
    all but the newest ``keep`` of them."""
    target = history_path(run_dir, env_steps)
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(latest, tmp)
    except OSError:
        shutil.copyfile(latest, tmp)
    os.replace(tmp, target)
    for old in sorted(target.parent.glob("step_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)


def save_checkpoint(path: Path, algo_name: str, algo_state: dict[str, Any], env_steps: int, episodes: int,
                    resume: dict[str, Any] | None = None) -> None:
    """Write to a temp file beside ``path``, then rename over it: a crash never leaves half a file.
    ``resume``, if given, is what ``marlzoo run --resume`` needs to go on."""
    payload = {
        "format": FORMAT,
        "algo": algo_name,
        "marlzoo_version": marlzoo.__version__,
        "env_steps": env_steps,
        "episodes": episodes,
        "state": algo_state,
    }
    if resume is not None:
        payload["resume"] = resume
    buffer = io.BytesIO()
    torch.save(payload, buffer)  # in memory first: torch's zip writer reports a full disk as a RuntimeError
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(buffer.getbuffer())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written temp file would hold the space the disk lacks
        raise


def load_checkpoint(path: Path, expected_algo: str) -> dict[str, Any]:
    """Read a checkpoint and check that ``expected_algo`` wrote it."""
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; the run may not have reached its first checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{path} is not a readable marlzoo checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state" not in payload:
        raise UserError(f"{path} is not a marlzoo checkpoint (format {FORMAT})")
    if payload["algo"] != expected_algo:
        raise UserError(
            f"{path} was written by algorithm '{payload['algo']}', but this run uses '{expected_algo}'; "
            "pass the checkpoint of a run of the same algorithm"
        )
    return payload


def find_checkpoint(run_dir: Path, which: str | None) -> Path:
    """The checkpoint ``marlzoo eval --checkpoint`` names: None for the latest, a number for the
    step-numbered one kept at that many env steps, else a path."""
    if which is None:
        return run_dir / "checkpoint.pt"
    if which.isdigit():
        path = history_path(run_dir, int(which))
        if not path.is_file():
            kept = sorted(int(p.stem.split("_")[1]) for p in (run_dir / HISTORY_DIR).glob("step_*.pt"))
            raise UserError(f"{run_dir} has no checkpoint kept at env step {int(which)}; it keeps "
                            f"{', '.join(map(str, kept)) or 'none (set keep_checkpoints: K when training)'}")
        return path
    return Path(which)
