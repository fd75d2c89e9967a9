"""The console view of a run: a live progress bar with env steps, the latest returns and steps/s."""

from __future__ import annotations


from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn


class Progress:
    """A rich progress bar over env steps; each greedy evaluation is also printed as a line."""

    def __init__(self, total: int, title: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self.total = total
        self.title = title
        self.console = Console(stderr=True)
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
            disable=not enabled,
        )
        self._task = None

    def __enter__(self) -> "Progress":
        self._bar.__enter__()
        self._task = self._bar.add_task(self.title, total=self.total, sps=0.0, train=float("nan"), test="   -   ")
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def update(self, steps: int, train_return: float, sps: float) -> None:
        self._bar.update(self._task, completed=min(steps, self.total), sps=sps, train=train_return)

    def note_test(self, steps: int, mean: float, std: float) -> None:
        self._bar.update(self._task, test=f"{mean:7.2f}")
        if self.enabled:
            self._bar.console.print(f"  env steps {steps:>9,}  test return {mean:8.2f} ± {std:.2f}")
