"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

import marlzoo
from marlzoo.errors import UserError

FORMAT = 1


def save_checkpoint(path: Path, algo_name: str, algo_state: dict[str, Any], env_steps: int, episodes: int) -> None:
    """Write to a temp file beside ``path``, then rename over it: a crash never leaves half a file."""
    payload = {
        "format": FORMAT,
        "algo": algo_name,
        "marlzoo_version": marlzoo.__version__,
        "env_steps": env_steps,
        "episodes": episodes,
        "state": algo_state,
    }
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
