"""Non-finite numbers stop a run with one line: from the env (rewards, observations) and from the
learner (a loss or a gradient norm). The last good checkpoint stays, and metrics.jsonl stays strict JSON."""

from __future__ import annotations

import json

import numpy as np
import torch
from mpe2 import simple_spread_v3
from pettingzoo.utils.wrappers import BaseParallelWrapper

from tests.conftest import REPO, assert_stops_with, run_cli


class Poisoned(BaseParallelWrapper):
    """simple_spread, whose ``what`` turns NaN for agent_1 from its ``after``-th step on (counted over episodes)."""

    def __init__(self, what: str, after: int) -> None:
        super().__init__(simple_spread_v3.parallel_env())
        self.what, self.after, self.steps = what, after, 0

    def step(self, actions):
        obs, rewards, terms, truncs, infos = super().step(actions)
        self.steps += 1
        if self.steps >= self.after and "agent_1" in rewards:
            if self.what == "reward":
                rewards = {**rewards, "agent_1": float("nan")}
            else:
                obs = {**obs, "agent_1": np.full_like(obs["agent_1"], np.inf)}
        return obs, rewards, terms, truncs, infos


def poisoned(what: str = "reward", after: int = 1) -> Poisoned:
    return Poisoned(what, after)


ENV = "tests.test_nonfinite:poisoned"
FAST = ["--wandb", "disabled", "--no-progress", "--set", "n_envs=1", "--set", "test_episodes=1",
        "--set", "log_interval=25", "--set", "test_interval=100", "--set", "checkpoint_interval=100"]


def strict_rows(run_dir):
    def refuse(constant):
        raise ValueError(f"{constant} is not strict JSON")

    return [json.loads(line, parse_constant=refuse) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run(tmp_path, algo: str, *sets: str):
    args = ["run", "--algo", algo, "--env", ENV, "--steps", "1000", *FAST, *[a for s in sets for a in ("--set", s)],
            "--run-dir", str(tmp_path), "--run-id", "r"]
    return run_cli(*args, env={"PYTHONPATH": str(REPO)})


def test_a_nan_reward_stops_the_run_naming_it_and_keeps_the_last_good_checkpoint(tmp_path):
    result = run(tmp_path, "vdn", "env.kwargs.after=260", "algo.batch_size=2")  # checkpoints at 100 and 200 come first
    assert_stops_with(result, "returned a non-finite reward nan at step 10 of an episode (copy 0)")
    run_dir = tmp_path / "r"
    assert json.loads((run_dir / "run.json").read_text())["status"].startswith("failed")
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["env_steps"] == 200
    assert all(torch.isfinite(v).all() for v in state["state"]["agent"].values())
    rows = strict_rows(run_dir)
    assert rows[-1]["env_steps"] == 250, "nothing after the poisoned step was logged"


def test_an_infinite_observation_names_the_agent(tmp_path):
    result = run(tmp_path, "mappo", "env.kwargs.what=observation", "env.kwargs.after=30", "algo.rollout_length=10")
    assert_stops_with(result, "non-finite observation of agent 'agent_1' at step 5 of an episode")


def test_a_non_finite_loss_stops_the_run_before_it_is_logged(tmp_path):
    result = run(tmp_path, "vdn", "env.kwargs.after=1000000", "algo.lr=1e30", "algo.grad_clip=1e38", "algo.batch_size=2")
    # numpy may warn of the overflow while acting on the exploded weights, before the update that gives a NaN loss
    assert_stops_with(result, "VDN produced a non-finite loss/", "lower the learning rate")
    run_dir = tmp_path / "r"
    strict_rows(run_dir)
    assert not (run_dir / "checkpoint.pt").exists() or all(
        torch.isfinite(v).all() for v in torch.load(run_dir / "checkpoint.pt", weights_only=True)["state"]["agent"].values())
