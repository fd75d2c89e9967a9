"""The metric schema and its sinks: metrics.jsonl, Weights & Biases, TensorBoard (opt-in), and the console.

Every algorithm logs rows keyed by ``env_steps`` with these names:

  env_steps, episodes          progress
  train/return_mean            mean return of the exploring episodes since the last row
  train/ep_length_mean         their mean length
  test/return_mean, test/return_std   greedy episodes, at every test interval and at the end
  epsilon                      where the algorithm explores that way
  loss/*                       the algorithm's own, averaged since the last row
  time/sps, time/elapsed_s     wall clock: W&B and console only

A return is the sum over the episode of the team reward (see ``env.reward_aggregation``).
``metrics.jsonl`` holds everything but ``time/*``, so the same seed gives the same file.
W&B and TensorBoard get every row whole, keyed by ``env_steps``.
"""

from __future__ import annotations

import errno
import json
import numbers
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from marlzoo.errors import UserError

TIME_PREFIX = "time/"


class MeanAccumulator:
    """Averages named scalars between two log rows."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._sums[key] += float(value)
            self._counts[key] += 1

    def pop(self) -> dict[str, float]:
        means = {k: self._sums[k] / self._counts[k] for k in self._sums}
        self._sums.clear()
        self._counts.clear()
        return means

    def state_dict(self) -> dict[str, dict]:
        """The sums and counts since the last row (a checkpoint need not fall on a row)."""
        return {"sums": dict(self._sums), "counts": dict(self._counts)}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        self._sums.clear()
        self._counts.clear()
        self._sums.update(state["sums"])
        self._counts.update(state["counts"])


class JsonlSink:
    """Appends one JSON object per row to ``metrics.jsonl`` (without wall-clock fields).

    Each row goes to the file in one ``write``; if the disk takes only part of it, the file is cut
    back to its last whole row, so ``metrics.jsonl`` only ever holds complete, strict JSON lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, row: dict[str, Any]) -> None:
        clean = {k: v for k, v in row.items() if not k.startswith(TIME_PREFIX)}
        data = (json.dumps(clean, sort_keys=True, allow_nan=False) + "\n").encode()
        size = os.fstat(self._fd).st_size
        try:
            if os.write(self._fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        except OSError as exc:
            os.ftruncate(self._fd, size)
            if exc.filename is None:
                exc.filename = str(self.path)
            raise

    def close(self) -> None:
        os.close(self._fd)


def truncate_rows(path: Path, env_steps: int) -> int:
    """Drop the rows of ``path`` logged after ``env_steps`` (atomically: a temp file, then a
    rename), so a resumed run appends to exactly what its checkpoint had seen. Returns the rows dropped."""
    if not path.is_file():
        return 0
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["env_steps"] <= env_steps]
    if len(kept) == len(lines):
        return 0
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(b"".join(kept))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(lines) - len(kept)


def last_values(path: Path) -> dict[str, Any]:
    """The latest value of each metric in ``path``, as :class:`MetricLog` would hold it had it
    written every row."""
    latest: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            latest.update(json.loads(line))
    return latest


def _wandb_has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def resolve_wandb_mode(mode: str) -> str:
    """``auto`` becomes ``online`` with credentials, else ``offline`` (sync later with ``wandb sync``)."""
    if mode == "auto":
        return "online" if _wandb_has_credentials() else "offline"
    return mode


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter to read and to paste)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class WandbSink:
    """A real W&B run, online or offline, stored under the run directory.

    ``note`` is the line to show at the start when it logs offline: why, where, and how to upload it.
    ``offline_reason`` says why an offline run is offline (``resolve_wandb_mode`` chose it, or the user did).
    Online, it waits ``init_timeout`` seconds for the server (W&B's own default is 90), then logs offline.
    """

    def __init__(self, run_dir: Path, run_id: str, config: dict[str, Any], mode: str, project: str,
                 entity: str | None, group: str | None, offline_reason: str = "wandb.mode is offline",
                 init_timeout: float = 15.0) -> None:
        import wandb

        wandb.setup(settings=wandb.Settings(silent=True))  # its login's "Loaded credentials" line too
        settings = wandb.Settings(silent=True, console="off", x_disable_stats=True, init_timeout=init_timeout)
        kwargs = dict(project=project, entity=entity, group=group, name=run_id, config=config,
                      dir=str(run_dir), settings=settings, reinit="create_new")
        try:
            self._run = wandb.init(mode=mode, **kwargs)
        except Exception as exc:
            if mode != "online":
                raise UserError(f"wandb could not start ({exc}); rerun with --wandb disabled") from None
            self._run = wandb.init(mode="offline", **kwargs)
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            offline_reason = f"online W&B did not start, with wandb.init_timeout={init_timeout:g} s: {why[:160]}"
        self.mode = self._run.settings.mode if hasattr(self._run.settings, "mode") else mode
        self.note: str | None = None
        if self.mode == "offline":
            where = display_path(Path(self._run.settings.sync_dir))
            self.note = f"W&B logs offline ({offline_reason}) to {where}; upload it later with: wandb sync {where}"

    def write(self, row: dict[str, Any]) -> None:
        self._run.log(row, step=int(row["env_steps"]))

    def close(self) -> None:
        self._run.finish()  # wandb 0.31 dropped finish(quiet=...)


class TensorBoardSink:
    """TensorBoard event files in ``log_dir``, written by ``torch.utils.tensorboard``: every numeric
    metric of a row as a scalar at step ``env_steps``. Needs the ``tensorboard`` package."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError('TensorBoard logging needs the tensorboard package: pip install "marlzoo[tensorboard]"') from None
        self._writer = SummaryWriter(log_dir=str(log_dir), flush_secs=10)

    def write(self, row: dict[str, Any]) -> None:
        step = int(row["env_steps"])
        for key, value in row.items():
            if key != "env_steps" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self._writer.add_scalar(key, float(value), global_step=step)

    def close(self) -> None:
        self._writer.close()


class MetricLog:
    """Fans each row out to every sink and remembers the latest value of each metric."""

    def __init__(self, sinks: list[Any]) -> None:
        self.sinks = sinks
        self.latest: dict[str, Any] = {}

    def write(self, row: dict[str, Any]) -> None:
        self.latest.update(row)
        for sink in self.sinks:
            sink.write(row)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
