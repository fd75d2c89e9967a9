"""The console view of a run, on stderr.

How it shows depends on where stderr goes and what was asked (``mode``):

  ``auto``         an interactive terminal or a notebook: a live bar with env steps, steps/s and
                   the latest returns; anything else (a pipe, a file, CI): plain lines, one every
                   tenth of the budget, so a log never holds a bar cut at 80 columns
  ``evaluations``  no bar and no periodic lines (``marlzoo run --no-progress``)
  ``off``          nothing at all (table cells, ``marlzoo.train(progress=False)``)

Every mode but ``off`` prints a line at each greedy evaluation, and the notes a run makes at its
start (where W&B logs offline, why a run takes more steps than asked).
"""

from __future__ import annotations

import sys
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

from marlzoo.errors import UserError

Mode = Literal["auto", "evaluations", "off"]
MODES = ("auto", "evaluations", "off")
PLAIN_LINES = 10  # periodic lines per run when the output is not a terminal


def progress_mode(progress: bool | str) -> Mode:
    """``True`` is ``auto`` and ``False`` is ``off``; a mode's name is itself."""
    if progress is True or progress is False:
        return "auto" if progress else "off"
    if progress not in MODES:
        raise UserError(f"progress must be True, False or one of {', '.join(MODES)}, not {progress!r}")
    return progress  # type: ignore[return-value]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """The run's console: a bar or plain lines (see the module docstring), and a line per evaluation."""

    def __init__(self, total: int, title: str, mode: Mode = "auto") -> None:
        self.total = total
        self.title = title
        self.console = Console(stderr=True)
        self.mode = mode
        self.bar = mode == "auto" and (self.console.is_interactive or self.console.is_jupyter)
        self.periodic = mode == "auto" and not self.bar
        self._next_line = 1  # the tenth of the budget the next periodic line waits for
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TextColumn("{task.fields[sps]:>6.0f} steps/s"),
            TextColumn("train R {task.fields[train]:>7.2f}"),
            TextColumn("test R {task.fields[test]}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.bar,
        )
        self._task = None

    def __enter__(self) -> "Progress":
        self._bar.__enter__()
        self._task = self._bar.add_task(self.title, total=self.total, sps=0.0, train=float("nan"), test="   -   ")
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def line(self, text: str) -> None:
        """Print one line (above the bar, if there is one), unless the mode is ``off``."""
        if self.mode == "off":
            return
        if self.bar:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, steps: int, train_return: float, sps: float) -> None:
        self._bar.update(self._task, completed=min(steps, self.total), sps=sps, train=train_return)
        if self.periodic and steps * PLAIN_LINES >= self._next_line * self.total:
            self._next_line = steps * PLAIN_LINES // self.total + 1
            eta = f"  about {_duration((self.total - steps) / sps)} left" if steps < self.total and sps > 0 else ""
            self.line(f"  env steps {steps:>9,} of {self.total:,}  {sps:6.0f} steps/s  train return {train_return:8.2f}{eta}")

    def note_test(self, steps: int, mean: float, std: float) -> None:
        self._bar.update(self._task, test=f"{mean:7.2f}")
        self.line(f"  env steps {steps:>9,}  test return {mean:8.2f} ± {std:.2f}")
