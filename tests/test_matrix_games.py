"""The matrix games, and what each value factorisation learns on the non-monotonic one.

The learning tests train the cells of configs/tables/matrix_games.yaml (the same recipe as
results/matrix_games.md: 400 one-step episodes, uniform exploration, lr 0.01) for seeds 0-4, and read
the learned values back from each run's checkpoint, as ``marlzoo eval --qtable`` does.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test

from marlzoo.config import load_config
from marlzoo.envs.catalogue import make_env
from marlzoo.envs.matrix_games import CLIMBING, NONMONOTONIC, climbing, nonmonotonic, penalty, penalty_payoff
from marlzoo.training.evaluate import value_table_of_run
from marlzoo.bench.tables import load_table
from marlzoo.training.trainer import Trainer
from tests.conftest import REPO

PAYOFF = np.array(NONMONOTONIC)
SEEDS = range(5)


# ------------------------------------------------------------------------------ the games
@pytest.mark.parametrize("factory", [nonmonotonic, climbing, lambda: penalty(-50.0)], ids=["nonmonotonic", "climbing", "penalty"])
def test_games_pass_the_pettingzoo_parallel_api_test(factory):
    parallel_api_test(factory(), num_cycles=10)


@pytest.mark.parametrize("name,payoff", [("nonmonotonic", NONMONOTONIC), ("climbing", CLIMBING),
                                         ("penalty", penalty_payoff(-100.0))])
def test_team_reward_is_the_payoff_of_every_joint_action_in_one_step_from_one_state(name, payoff):
    config = load_config("qmix", name, sets=["wandb.mode=disabled"])
    assert config.env.reward_aggregation == "mean"  # configs/envs/<game>.yaml
    env = make_env(name, config.env.kwargs, config.env.episode_limit, config.env.reward_aggregation, config.env.state)
    assert env.spec.episode_limit == 1 and env.spec.n_agents == 2 and env.spec.n_actions == 3
    env.reset(seed=0)
    start = (env.obs.copy(), env.state.copy())
    for u in itertools.product(range(3), repeat=2):
        env.reset(seed=sum(u))
        assert np.array_equal(env.obs, start[0]) and np.array_equal(env.state, start[1])
        reward, terminated, truncated = env.step(np.array(u))
        assert reward == payoff[u[0]][u[1]], u
        assert terminated and not truncated


def test_penalty_k_is_configurable_from_the_command_line():
    config = load_config("vdn", "penalty", sets=["wandb.mode=disabled", "env.kwargs.k=-7"])
    env = make_env("penalty", config.env.kwargs, reward_aggregation="mean")
    env.reset(seed=0)
    assert env.step(np.array([0, 2]))[0] == -7.0
    env.reset(seed=0)
    assert env.step(np.array([2, 2]))[0] == 10.0


def test_matrix_game_takes_any_payoff_and_one_axis_per_agent():
    env = make_env("matrix_game", {"payoff": np.arange(24).reshape(2, 3, 4).tolist()}, reward_aggregation="mean")
    assert env.spec.n_agents == 3 and env.spec.action_sizes == (2, 3, 4)
    env.reset(seed=0)
    assert env.step(np.array([1, 2, 3]))[0] == 23.0


# ------------------------------------------------------------------------------ learning
def _train_seeds(algo: str, tmp_path_factory) -> list[tuple[tuple[int, int], float, np.ndarray]]:
    """Train the table's cells of ``algo`` on nonmonotonic; per seed: greedy joint action, greedy payoff, Q_tot."""
    torch.set_num_threads(1)
    spec = load_table(REPO / "configs" / "tables" / "matrix_games.yaml")
    out = []
    for seed in SEEDS:
        config = spec.cell(algo, "nonmonotonic", seed).config
        config = dataclasses.replace(config, wandb=dataclasses.replace(config.wandb, mode="disabled"))
        run_dir = tmp_path_factory.mktemp(f"{algo}{seed}")
        info = Trainer(config, run_dir, show_progress=False).train()
        _, table, avail = value_table_of_run(run_dir)
        out.append((table.greedy(avail), info["final_metrics"]["test/return_mean"], table.joint_q.numpy()))
    return out


@pytest.fixture(scope="module")
def qtran_runs(tmp_path_factory):
    return _train_seeds("qtran", tmp_path_factory)


@pytest.fixture(scope="module")
def vdn_runs(tmp_path_factory):
    return _train_seeds("vdn", tmp_path_factory)


@pytest.fixture(scope="module")
def qmix_runs(tmp_path_factory):
    return _train_seeds("qmix", tmp_path_factory)


@pytest.fixture(scope="module", params=["cw_qmix", "ow_qmix"])
def weighted_qmix_runs(request, tmp_path_factory):
    return _train_seeds(request.param, tmp_path_factory)


@pytest.mark.slow
def test_weighted_qmix_finds_the_nonmonotonic_optimum_where_qmix_does_not(weighted_qmix_runs, qmix_runs):
    runs = weighted_qmix_runs
    optimal = [greedy == (0, 0) and payoff == 8.0 for greedy, payoff, _ in runs]
    assert sum(optimal) >= 4, runs
    qmix_failed = [greedy != (0, 0) for greedy, _, _ in qmix_runs]
    assert sum(ok and failed for ok, failed in zip(optimal, qmix_failed)) >= 2, (runs, qmix_runs)
    for _, _, q_tot in runs:
        # Still monotonic, but fitted where the weighting puts its weight: (0, 0) near 8 and ranked first,
        # where QMIX's equal-weight fit ranks it with the -12 entries.
        assert np.unravel_index(q_tot.argmax(), q_tot.shape) == (0, 0) and abs(q_tot[0, 0] - 8.0) < 2.5, q_tot


@pytest.mark.slow
def test_qtran_finds_the_nonmonotonic_optimum(qtran_runs):
    optimal = [greedy == (0, 0) and payoff == 8.0 for greedy, payoff, _ in qtran_runs]
    assert sum(optimal) >= 4, qtran_runs
    for _, _, q_jt in qtran_runs:
        # Q_jt is unconstrained: it represents the whole payoff, which no monotonic mix can (below).
        assert np.abs(q_jt - PAYOFF).max() < 1.5, q_jt
        assert np.unravel_index(q_jt.argmax(), q_jt.shape) == (0, 0)


@pytest.mark.slow
def test_vdn_cannot_represent_the_nonmonotonic_optimum(vdn_runs):
    for greedy, payoff, q_tot in vdn_runs:
        best = np.unravel_index(q_tot.argmax(), q_tot.shape)
        assert best != (0, 0) and PAYOFF[best] < 8.0, q_tot
        assert greedy != (0, 0) and payoff != 8.0
        # Additive: Q(a,b) - Q(a,b') - Q(a',b) + Q(a',b') = 0, while the payoff's interaction is 8 + 12 + 12 + 0.
        assert q_tot[0, 0] - q_tot[0, 1] - q_tot[1, 0] + q_tot[1, 1] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.slow
def test_qmix_cannot_represent_the_nonmonotonic_payoff(qmix_runs):
    # The known result: QMIX's greedy joint action is suboptimal. Observed in 3 of these 5 seeds (the
    # exploration stream decides which): seeds 2 and 3 rank (0, 0) first, which a monotonic mix can do,
    # but only by misfitting the other entries, which every seed must show (below).
    suboptimal = 0
    for greedy, payoff, q_tot in qmix_runs:
        best = np.unravel_index(np.nanargmax(q_tot), q_tot.shape)
        suboptimal += best != (0, 0) and greedy != (0, 0) and payoff != 8.0
        # Monotonic in each Q_i: either Q(0,1) >= Q(1,1) though the payoffs are -12 < 0, or Q(0,0) <= Q(1,0)
        # though they are 8 > -12. Either way some entry is off by at least 6.
        assert q_tot[0, 1] >= q_tot[1, 1] - 1e-4 or q_tot[0, 0] <= q_tot[1, 0] + 1e-4, q_tot
        assert np.abs(q_tot - PAYOFF).max() >= 6.0 - 1e-3, q_tot
    assert suboptimal >= 3, qmix_runs


# ------------------------------------------------------------------------------ marlzoo eval --qtable
def test_eval_qtable_prints_q_tot_for_every_joint_action(tmp_path, cli_main):
    code, _, err = cli_main("run", "--algo", "vdn", "--env", "nonmonotonic", "--steps", "64", "--wandb", "disabled",
                            "--no-progress", "--run-dir", str(tmp_path), "--run-id", "r", "--set", "algo.batch_size=8")
    assert code == 0, err
    code, shown, err = cli_main("eval", "--run", str(tmp_path / "r"), "--qtable", "--episodes", "2")
    assert code == 0, err
    assert "Q_tot(u)" in shown and "greedy joint action" in shown
    code, as_json, _ = cli_main("eval", "--run", str(tmp_path / "r"), "--qtable", "--episodes", "2", "--json")
    table = json.loads(as_json)["qtable"]
    q_tot, agent_q = np.array(table["joint_q"]), np.array(table["agent_q"])
    assert q_tot.shape == (3, 3) and agent_q.shape == (2, 3)
    # VDN's Q_tot is the sum of the Q_i: the table must say exactly that.
    assert np.allclose(q_tot, agent_q[0][:, None] + agent_q[1][None, :], atol=1e-5)
    assert tuple(table["greedy"]) == tuple(agent_q.argmax(axis=1))
    printed = [[float(v) for v in line.split()[1:]] for line in shown.splitlines()[-5:-2]]  # Q_tot's 3 rows
    assert np.allclose(printed, q_tot, atol=0.006)


def test_eval_qtable_refuses_an_env_with_more_than_one_state(tmp_path, cli_main):
    code, _, err = cli_main("run", "--algo", "idqn", "--env", "simple_spread", "--steps", "50", "--wandb", "disabled",
                            "--no-progress", "--run-dir", str(tmp_path), "--run-id", "r", "--set", "n_envs=2",
                            "--set", "test_episodes=2", "--set", "algo.batch_size=2")
    assert code == 0, err
    code, out, err = cli_main("eval", "--run", str(tmp_path / "r"), "--qtable", "--episodes", "2")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "single state" in err


def test_eval_qtable_refuses_an_algorithm_without_action_values(tmp_path, cli_main):
    # Random play has no action values: --qtable has nothing to show for it.
    config = load_config("random", "climbing", sets=["wandb.mode=disabled"], steps=16)
    Trainer(config, tmp_path, show_progress=False).train()
    code, out, err = cli_main("eval", "--run", str(tmp_path), "--qtable", "--episodes", "2")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no action values" in err
