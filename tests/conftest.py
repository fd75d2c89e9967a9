"""Shared test setup: one torch thread (small networks), and helpers to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("WANDB_SILENT", "true")

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the installed ``marlzoo`` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(["marlzoo", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@dataclass
class Result:
    """What a command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Call ``marlzoo.cli.main`` in-process, optionally in directory ``cwd``; returns a :class:`Result`
    shaped like :func:`run_cli`'s, without a new interpreter's seconds of imports."""
    from marlzoo.cli import main

    def call(*args: str, cwd=None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()  # what came before (a run trained in-process, say) is not this command's
        code = main(list(args))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call


def assert_one_line_error(result, *fragments: str) -> None:
    """``result`` (a :class:`Result` or a CompletedProcess) is bad input's one line and exit code 2."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("marlzoo: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def assert_stops_with(result, *fragments: str) -> None:
    """A run that started, then stopped on a problem: exit code 2, no traceback, and one error line,
    the last, holding ``fragments`` (the evaluation lines printed before it may stand above it)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("marlzoo: error: ")] == lines[-1:], result.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


@pytest.fixture
def cli_main(capsys):
    """Call ``marlzoo.cli.main`` in-process; returns (exit code, stdout, stderr)."""
    from marlzoo.cli import main

    def call(*args: str):
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


# A fast configuration for end-to-end CLI tests: tiny budget, few test episodes, no W&B.
FAST = ["--wandb", "disabled", "--no-progress", "--set", "test_episodes=4", "--set", "n_envs=2",
        "--set", "log_interval=50", "--set", "test_interval=100", "--set", "algo.batch_size=2"]


def learn_step(algo, buffer, t_env: int) -> dict:
    """One learning step of either base: one replay update, or one rollout's learning. Returns its
    metrics (empty if a replay algorithm could not sample yet)."""
    from marlzoo.algorithm import ReplayAlgorithm

    if isinstance(algo, ReplayAlgorithm):
        metrics = algo.learn(buffer, t_env, 1)
        return metrics[-1] if metrics else {}
    return algo.learn(buffer, t_env)
