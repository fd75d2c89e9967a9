"""Resume: a run killed (SIGKILL) or stopped (SIGTERM) and resumed writes the metrics an unbroken run
writes; checkpoints at every evaluation, a step-numbered history, and run.json telling a killed run
from a running one; bad input to --resume is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from marlzoo.training.checkpoint import history_path
from marlzoo.training.metrics import truncate_rows
from tests.conftest import assert_one_line_error, read_metrics

# Tiny budgets: checkpoints (at every evaluation) every 200 env steps, learning from the first few episodes.
SMALL = ["--wandb", "disabled", "--no-progress", "--set", "n_envs=4", "--set", "test_episodes=4",
         "--set", "log_interval=100", "--set", "test_interval=200"]
MPE2 = ["--set", "env.backend=pettingzoo"]  # the env copies replay their actions since the last reset
CASES = {
    "qmix": ["--algo", "qmix", "--set", "algo.batch_size=8", *MPE2],
    "qmix-process": ["--algo", "qmix", "--set", "algo.batch_size=8", "--set", "learner=process", *MPE2],
    "mappo": ["--algo", "mappo", *MPE2],  # rollouts of 20 steps cut the 25-step episodes: resumed mid-episode
    "maddpg": ["--algo", "maddpg", "--set", "algo.batch_size=8", *MPE2],
    "mappo-vectorised": ["--algo", "mappo", "--set", "env.backend=vectorised"],  # the env's state is in arrays
}


def untimed(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in read_metrics(run_dir)]


def start_run(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "marlzoo.cli", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc: subprocess.Popen, run_dir: Path, past_step: int) -> None:
    """Wait until the run's checkpoint is at ``past_step`` env steps or more."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it was stopped: {proc.communicate()[1]}"
        info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
        if (run_dir / "checkpoint.pt").is_file() and info.get("env_steps", 0) >= past_step:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint within 120 s")


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_run_killed_and_resumed_writes_the_metrics_of_an_unbroken_run(tmp_path, cli, case):
    args = [*CASES[case], "--env", "simple_spread", "--steps", "1000", "--run-dir", str(tmp_path), *SMALL]
    assert cli("run", *args, "--run-id", "whole").returncode == 0
    proc = start_run([*args, "--run-id", "killed"])
    killed = tmp_path / "killed"
    wait_for_checkpoint(proc, killed, 400)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((killed / "run.json").read_text())["status"] == "running"  # what SIGKILL leaves

    result = cli("run", "--resume", str(killed), "--no-progress")
    assert result.returncode == 0, result.stderr
    info = json.loads((killed / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed"][0]["at_env_step"] >= 400
    assert untimed(killed) == untimed(tmp_path / "whole")


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_says_how_to_resume_and_the_resumed_run_is_unbroken(tmp_path, cli):
    args = [*CASES["qmix"], "--env", "simple_spread", "--steps", "1000", "--run-dir", str(tmp_path), *SMALL,
            "--set", "checkpoint_at_test=false"]  # the only checkpoint before the end is the signal's
    assert cli("run", *args, "--run-id", "whole").returncode == 0
    proc = start_run([*args, "--run-id", "stopped"])
    stopped = tmp_path / "stopped"
    deadline = time.monotonic() + 120
    while not (stopped / "metrics.jsonl").is_file() or not (stopped / "metrics.jsonl").read_text().count("\n") >= 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1].startswith("marlzoo: stopped by SIGTERM at env step ")
    assert f"marlzoo run --resume {stopped}" in err
    info = json.loads((stopped / "run.json").read_text())
    assert info["status"] == "interrupted" and info["env_steps"] < 1000
    assert cli("run", "--resume", str(stopped), "--no-progress").returncode == 0
    assert untimed(stopped) == untimed(tmp_path / "whole")


def test_a_run_checkpoints_at_every_evaluation_and_keeps_a_step_numbered_history(tmp_path, cli):
    args = ["--algo", "qmix", "--env", "climbing", "--steps", "160", "--run-dir", str(tmp_path), "--run-id", "r",
            "--wandb", "disabled", "--no-progress", "--set", "test_interval=40", "--set", "keep_checkpoints=2", "--set", "n_envs=4",
            "--set", "test_episodes=2", "--set", "algo.batch_size=4"]
    assert cli("run", *args).returncode == 0
    run = tmp_path / "r"
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == [history_path(run, 120).name, history_path(run, 160).name]  # 40 and 80 were pruned
    payload = torch.load(history_path(run, 120), weights_only=True)
    assert payload["env_steps"] == 120 and payload["resume"]["counters"]["t_env"] == 120
    by_step = cli("eval", "--run", str(run), "--checkpoint", "120", "--episodes", "2", "--json")
    by_path = cli("eval", "--run", str(run), "--checkpoint", str(history_path(run, 120)), "--episodes", "2", "--json")
    assert by_step.returncode == 0 and json.loads(by_step.stdout) == json.loads(by_path.stdout)
    assert_one_line_error(cli("eval", "--run", str(run), "--checkpoint", "100"), "no checkpoint kept at env step 100",
                          "120, 160")


def climbing_run(tmp_path: Path, cli) -> Path:
    """A finished 200-step QMIX run on the climbing game (one-step episodes: quick)."""
    args = ["--algo", "qmix", "--env", "climbing", "--steps", "200", "--run-dir", str(tmp_path), "--run-id", "r",
            "--wandb", "disabled", "--no-progress", "--set", "test_interval=100", "--set", "test_episodes=2",
            "--set", "algo.batch_size=4"]
    assert cli("run", *args).returncode == 0
    return tmp_path / "r"


def test_a_run_without_its_process_reads_as_killed(tmp_path, cli):
    run = climbing_run(tmp_path, cli)
    info = json.loads((run / "run.json").read_text())
    assert info["pid"] == os.getpid() and info["status"] == "finished"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for command in (["compare", str(run)], ["eval", "--run", str(run), "--episodes", "2"]):
        (run / "run.json").write_text(json.dumps({**info, "status": "running", "pid": dead.pid}))
        result = cli(*command)
        assert result.returncode == 0
        assert json.loads((run / "run.json").read_text())["status"] == "killed"
    assert f"note: {run} is killed at env step 200, not finished; go on with: marlzoo run --resume {run}" in \
        cli("compare", str(run)).stdout
    (run / "run.json").write_text(json.dumps({**info, "status": "running"}))  # this process: alive
    assert_one_line_error(cli("run", "--resume", str(run)), "is still running")


def test_resume_refuses_bad_input_in_one_line(tmp_path, cli):
    run = climbing_run(tmp_path, cli)
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("run", "--resume", str(tmp_path / "nothing")), "does not exist; pass a directory under runs/ (for example --resume runs/<run_id>)")
    assert_one_line_error(cli("run", "--resume", str(tmp_path / "empty")), "not a marlzoo run directory")
    assert_one_line_error(cli("run", "--resume", str(run)), "already reached its 200 env steps")
    assert_one_line_error(cli("run", "--resume", str(run), "--steps", "100"), "--steps 100 is not past")
    assert_one_line_error(cli("run", "--resume", str(run), "--seed", "3"), "drop --seed")
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("n_envs: 8", "n_envs: 3"))
    assert_one_line_error(cli("run", "--resume", str(run), "--steps", "300"), "does not fit this run")
    (run / "config.yaml").write_text(config)
    assert cli("run", "--resume", str(run), "--steps", "300", "--no-progress").returncode == 0  # the refusals broke nothing
    assert read_metrics(run)[-1]["env_steps"] >= 300


def test_truncating_metrics_keeps_the_rows_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"env_steps": s, "x": s / 7}) + "\n" for s in (100, 200, 300, 400)))
    assert truncate_rows(path, 250) == 2
    assert [json.loads(line)["env_steps"] for line in path.read_text().splitlines()] == [100, 200]
    assert truncate_rows(path, 250) == 0
