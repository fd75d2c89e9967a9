"""A run on a disk that fills up stops with one line and keeps what it wrote: tested on a real small
file system (a tmpfs the test mounts, as root) that holds the first checkpoint but not the second."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from tests.conftest import assert_one_line_error, assert_stops_with, run_cli

ARGS = ["run", "--algo", "qmix", "--env", "simple_spread", "--steps", "1000", "--wandb", "disabled", "--no-progress",
        "--set", "n_envs=2", "--set", "test_episodes=2", "--set", "test_interval=400", "--set", "log_interval=200",
        "--set", "checkpoint_interval=400", "--set", "algo.batch_size=2", "--set", "algo.buffer_size=20"]


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount(size: int):
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True)


def test_a_full_disk_stops_the_run_in_one_line_and_keeps_the_first_checkpoint(tmp_path, small_disk):
    roomy = run_cli(*ARGS, "--run-dir", str(tmp_path / "roomy"), "--run-id", "r")
    assert roomy.returncode == 0, roomy.stderr
    checkpoint_size = (tmp_path / "roomy" / "r" / "checkpoint.pt").stat().st_size
    # Room for the first checkpoint and the small files, not for the second beside it (tmp, then rename).
    disk = small_disk(int(checkpoint_size * 1.5) + 64 * 1024)

    full = run_cli(*ARGS, "--run-dir", str(disk), "--run-id", "r")
    assert_stops_with(full, "No space left on device", "what it wrote before is kept")

    run_dir = disk / "r"
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "config.yaml", "metrics.jsonl", "run.json"]
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert payload["env_steps"] == 400, "the first checkpoint, whole"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["env_steps"] >= 400


@pytest.mark.slow
def test_reproduce_on_a_read_only_file_system_is_one_line_and_keeps_the_table(tmp_path, small_disk, cli):
    spec = tmp_path / "t.yaml"
    spec.write_text("{algos: [random], envs: [simple_spread], seeds: 1, steps: 50, "
                    "evaluation: {test_episodes: 1, test_interval: 50}, overrides: {n_envs: 1, log_interval: 50}}\n")
    disk = small_disk(8 * 2**20)
    made = cli("reproduce", str(spec), "--out", str(disk), "--workers", "1", "--wandb", "disabled")
    assert made.returncode == 0, made.stderr
    before = {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()}
    assert disk / "t.md" in before
    remount = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
    for args in ([], ["--rerun"]):  # cached or not, the table cannot be written
        result = cli("reproduce", str(spec), "--out", str(disk), "--workers", "1", "--wandb", "disabled", *args)
        assert_one_line_error(result, f"cannot write {disk}/runs/t/.lock: Read-only file system; pass a writable --out")
    result = cli("reproduce", str(spec), "--out", str(disk / "new"), "--wandb", "disabled")
    assert_one_line_error(result, f"cannot write {disk}/new: Read-only file system")
    assert {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()} == before
