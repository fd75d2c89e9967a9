"""HAPPO: agents updated one at a time in a random order, each with the ratio product of those
before it; separate actors (and log-stds) that move only in their own update; heterogeneous agents."""

import json

import numpy as np
import pytest
import torch

from marlzoo.cli import main
from marlzoo.config import load_config
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)


@pytest.mark.parametrize("env,sets", [("simple_speaker_listener", []),
                                      ("simple_spread", ["env.kwargs.continuous_actions=true"])])
def test_each_agent_is_weighted_by_the_ratio_product_of_the_agents_updated_before_it(env, sets):
    torch.manual_seed(0)  # the update order is drawn from torch's global stream
    cfg = load_config("happo", env, sets=["wandb.mode=disabled", "n_envs=2", "algo.rollout_length=25",
                                          "algo.epochs=2", "algo.lr=0.005", *sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    algo = build_algorithm(cfg, venv.spec)
    n = venv.spec.n_agents
    assert len(algo.actor.bodies) == n  # one actor per agent
    loop = make_loop(algo, venv, 0, "happo")
    seen = []
    real_update = algo.update_agent
    algo.update_agent = lambda agent, factor, *rest: (seen.append((agent, factor.clone())), real_update(agent, factor, *rest))[1]
    orders = set()
    for it in range(6):
        seen.clear()
        buffer = loop.buffer
        loop.runner.collect(algo, buffer, it * 50)
        algo.learn(buffer, (it + 1) * 50)
        # Each agent's actor is final once its own update is done: its new-to-old ratio now is the
        # one the agents after it were given.
        new_log_prob, _ = algo.policy_outputs(buffer.obs, buffer.avail, buffer.actions, buffer.starts, buffer.hidden0)
        ratio = torch.exp(new_log_prob.detach() - buffer.log_prob)
        order = [agent for agent, _ in seen]
        assert sorted(order) == list(range(n))
        expected = torch.ones(buffer.length, buffer.n_envs)
        for agent, factor in seen:
            assert torch.allclose(factor, expected, rtol=1e-4, atol=1e-6), (order, agent)
            expected = expected * ratio[..., agent]
        assert (seen[-1][1] - 1.0).abs().max() > 1e-3  # the earlier agents did move
        orders.add(tuple(order))
    assert len(orders) > 1  # a fresh random order each iteration


def test_happo_trains_heterogeneous_non_shared_agents_on_simple_speaker_listener(tmp_path, capsys):
    args = ["run", "--algo", "happo", "--env", "simple_speaker_listener", "--steps", "800", "--wandb", "disabled",
            "--no-progress", "--run-dir", str(tmp_path), "--run-id", "r", "--set", "n_envs=2",
            "--set", "algo.rollout_length=100", "--set", "test_episodes=2"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 800 and np.isfinite(rows[-1]["loss/policy"])
    assert np.isfinite(rows[-1]["loss/factor_mean"]) and rows[-1]["loss/factor_mean"] != 1.0
    capsys.readouterr()
    assert main(["eval", "--run", str(tmp_path / "r"), "--episodes", "2", "--json"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["return_mean"])
