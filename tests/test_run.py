"""A run end to end: its files, its metric schema, determinism, W&B offline, checkpoints, plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from marlzoo.cli import main
from tests.conftest import FAST, read_metrics

SCHEMA = {"env_steps", "episodes", "train/return_mean", "train/ep_length_mean", "epsilon", "loss/td"}


def tiny_run(root, run_id, *extra):
    code = main(["run", "--algo", "qmix", "--env", "simple_spread", "--steps", "300", *FAST,
                 "--run-dir", str(root), "--run-id", run_id, *extra])
    assert code == 0
    return root / run_id


def test_run_writes_config_metrics_contract_and_checkpoint(tmp_path):
    run = tiny_run(tmp_path, "r")
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "run.json", "checkpoint.pt"}
    assert not list(run.glob("*.tmp")), "atomic writes leave no temp files"
    rows = read_metrics(run)
    train_rows = [r for r in rows if "train/return_mean" in r]
    assert train_rows and SCHEMA <= set(train_rows[-1])
    assert any("test/return_mean" in r and "test/return_std" in r for r in rows)
    assert not any(k.startswith("time/") for r in rows for k in r), "wall clock stays out of metrics.jsonl"
    assert rows[-1]["env_steps"] >= 300 and rows[-1]["train/ep_length_mean"] == 25
    info = json.loads((run / "run.json").read_text())
    for key in ("env_id", "env_package", "env_version", "n_agents", "episode_limit", "reward_aggregation",
                "seed", "marlzoo_version", "git_commit", "hardware", "wall_clock_s", "return_definition"):
        assert key in info, key
    assert info["status"] == "finished" and info["env_package"] == "mpe2" and info["n_agents"] == 3
    assert info["episode_limit"] == 25 and info["reward_aggregation"] == "sum"
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["algo"] == "qmix" and ckpt["env_steps"] == rows[-1]["env_steps"]


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    a = tiny_run(tmp_path, "a", "--seed", "3")
    b = tiny_run(tmp_path, "b", "--seed", "3")
    c = tiny_run(tmp_path, "c", "--seed", "4")
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    assert (a / "metrics.jsonl").read_bytes() != (c / "metrics.jsonl").read_bytes()


@pytest.mark.slow
def test_wandb_offline_run_holds_the_metrics(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_SILENT="true")  # no credentials anywhere
    code = subprocess.run(
        [sys.executable, "-m", "marlzoo.cli", "run", "--algo", "vdn", "--env", "simple_spread", "--steps", "200",
         *[a for a in FAST if a not in ("--wandb", "disabled")], "--run-dir", str(tmp_path), "--run-id", "w"],
        env=env, capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    run = tmp_path / "w"
    assert json.loads((run / "run.json").read_text())["wandb_mode"] == "offline"
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    # said once, at the start: that it logs offline, why, where, and the command that uploads it
    (note,) = [line for line in code.stderr.splitlines() if "W&B logs offline" in line]
    assert "no W&B credentials" in note and f"wandb sync {offline[0]}" in note
    assert code.stderr.splitlines().index(note) < code.stderr.splitlines().index(
        next(line for line in code.stderr.splitlines() if "test return" in line))
    assert_wandb_holds_the_metrics(offline[0], run, env)


def assert_wandb_holds_the_metrics(offline: Path, run: Path, env: dict) -> None:
    """The offline W&B run, read back with `wandb leet inspect`, holds every row of metrics.jsonl."""
    dump = subprocess.run(["wandb", "leet", "inspect", "--json", str(offline)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert dump.returncode == 0, dump.stderr
    history = [json.loads(line)["history"]["item"] for line in dump.stdout.splitlines()
               if line.strip().startswith("{") and '"type":"history"' in line.replace(" ", "")]
    logged = read_metrics(run)
    assert len(history) == len(logged)
    for rec, row in zip(history, logged):
        assert rec["env_steps"] == row["env_steps"]
        for key, value in row.items():
            assert rec[key] == pytest.approx(value), key
        assert "time/sps" in rec


@pytest.mark.slow
def test_wandb_online_without_a_network_gives_up_soon_says_so_once_and_logs_offline(tmp_path):
    """This machine has no route to W&B: with a (fake) key, online mode waits wandb.init_timeout seconds
    (not W&B's 90), then one line says the run logs offline and where, and it does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_API_KEY="f" * 40)  # past the login check; no WANDB_SILENT: we are quiet
    code = subprocess.run(
        [sys.executable, "-m", "marlzoo.cli", "run", "--algo", "vdn", "--env", "simple_spread", "--steps", "200",
         *[a for a in FAST if a not in ("--wandb", "disabled")], "--wandb", "online", "--set", "wandb.init_timeout=2",
         "--run-dir", str(tmp_path), "--run-id", "w"], env=env, capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    run = tmp_path / "w"
    assert json.loads((run / "run.json").read_text())["wandb_mode"] == "offline"
    (offline,) = (run / "wandb").glob("offline-run-*")
    wandb_lines = [line for line in code.stderr.splitlines() if "W&B" in line or "wandb" in line.lower()]
    assert len(wandb_lines) == 1, code.stderr
    assert wandb_lines[0].startswith("W&B logs offline (online W&B did not start, with wandb.init_timeout=2 s: ")
    assert f"wandb sync {offline}" in wandb_lines[0]
    assert_wandb_holds_the_metrics(offline, run, env)


def test_progress_bar_shows_steps_returns_and_speed(cli, tmp_path, monkeypatch):
    for name, value in {"COLUMNS": "200", "TERM": "xterm", "FORCE_COLOR": "0", "TTY_COMPATIBLE": "1",
                        "TTY_INTERACTIVE": "1"}.items():  # what rich reads as an interactive terminal
        monkeypatch.setenv(name, value)
    result = cli("run", "--algo", "idqn", "--env", "simple_spread", "--steps", "200",
                 *[a for a in FAST if a != "--no-progress"], "--run-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "steps/s" in result.stderr and "train R" in result.stderr and "200/200" in result.stderr
    assert "test return" in result.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is Linux's")
def test_peak_memory_is_the_runs_own_not_its_parents():
    import numpy as np

    held = np.ones(80_000_000)  # 640 MB resident in this process while it starts the child
    child = subprocess.run([sys.executable, "-c", "from marlzoo.training.runinfo import peak_rss_mb; print(peak_rss_mb())"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert held.sum() == 80_000_000
    assert 50 < float(child.stdout) < 500, "a started process reports its own peak (importing torch: about 225 MB)"
