"""Tabular IQL: the update rule, masks, table limits, checkpoints, and learning a multi-step task."""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlzoo.algos.iql import IQL, IQLConfig, LatestEpisodes
from marlzoo.training.buffers import EpisodeBatch
from marlzoo.envs.adapter import PettingZooAdapter
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from marlzoo.training.loops import ReplayLoop
from marlzoo.training.runner import EpisodeRunner


def spec(limit: int = 2, n_actions: int = 2) -> EnvSpec:
    return EnvSpec(env_id="t", agents=("a", "b"), obs_shape=(1,), state_dim=2, action_kind="discrete",
                   n_actions=n_actions, episode_limit=limit, reward_aggregation="sum", env_package="x",
                   env_version="0", state_source="concatenated observations", obs_sizes=(1, 1),
                   action_sizes=(n_actions, n_actions))


def two_step_batch(s: EnvSpec) -> EpisodeBatch:
    """One episode: observations 0, 1, 2 (both agents); actions (1, 0) then (0, 1); rewards 1 then 2, terminal."""
    b = EpisodeBatch.zeros(s, 1)
    b.obs[0, :, :, 0] = torch.tensor([0.0, 1.0, 2.0]).unsqueeze(-1)
    b.avail.fill_(True)
    b.alive.fill_(True)
    b.actions[0] = torch.tensor([[1, 0], [0, 1]])
    b.reward[0] = torch.tensor([1.0, 2.0])
    b.terminated[0, 1] = True
    b.filled[0] = True
    return b


def q(algo: IQL, agent: int, obs: float) -> list[float]:
    return algo.values(torch.full((1, 2, 1), obs))[0, agent].tolist()


def learn_from(algo: IQL, batch: EpisodeBatch) -> dict:
    buffer = algo.make_buffer()
    buffer.insert(batch)
    (metrics,) = algo.learn(buffer, 0, batch.size)  # one update per new episode: the whole batch, once
    return metrics


def test_update_rule_bootstraps_in_order_and_stops_at_termination():
    algo = IQL(spec(), IQLConfig(alpha=0.5, gamma=0.9))
    batch = two_step_batch(spec())
    learn_from(algo, batch)
    # t=0: target 1 + 0.9 * max Q(o=1) = 1 (still zero) -> 0.5; t=1: terminal, target 2 -> 1.0.
    assert q(algo, 0, 0.0) == [0.0, 0.5] and q(algo, 1, 0.0) == [0.5, 0.0]
    assert q(algo, 0, 1.0) == [1.0, 0.0] and q(algo, 1, 1.0) == [0.0, 1.0]
    learn_from(algo, batch)
    # t=0: target 1 + 0.9 * 1.0 = 1.9 -> 0.5 + 0.5 * 1.4 = 1.2; t=1: 1.0 + 0.5 * (2 - 1) = 1.5.
    assert q(algo, 0, 0.0) == pytest.approx([0.0, 1.2]) and q(algo, 0, 1.0) == pytest.approx([1.5, 0.0])
    assert q(algo, 0, 2.0) == [0.0, 0.0], "nothing is learned about what follows a terminal step"


def test_bootstrap_takes_the_max_over_available_actions_only():
    algo = IQL(spec(), IQLConfig(alpha=1.0, gamma=1.0))
    batch = two_step_batch(spec())
    batch.terminated[0, 1] = False
    batch.filled[0, 1] = False  # only the first step counts, and it bootstraps from o=1
    table = algo.tables[0]
    table.q[table.row(np.array([1.0], np.float32))] = [1.0, 5.0]
    batch.avail[0, 1, 0] = torch.tensor([True, False])
    learn_from(algo, batch)
    assert q(algo, 0, 0.0)[1] == pytest.approx(1.0 + 1.0)


def test_departed_agents_are_not_updated():
    algo = IQL(spec(), IQLConfig(alpha=0.5))
    batch = two_step_batch(spec())
    batch.alive[0, :, 1] = False
    learn_from(algo, batch)
    assert len(algo.tables[1]) == 0 and len(algo.tables[0]) == 2


def test_acting_respects_avail_and_unseen_observations_value_zero():
    algo = IQL(spec(n_actions=3), IQLConfig())
    table = algo.tables[0]
    table.q[table.row(np.array([0.0], np.float32))] = [1.0, 9.0, 3.0]
    obs = torch.zeros(256, 2, 1)
    avail = torch.ones(256, 2, 3, dtype=torch.bool)
    avail[:, :, 1] = False
    greedy, _ = algo.act(obs, avail, None, explore=False, t_env=0)
    assert (greedy[:, 0] == 2).all(), "the best available action"
    assert (greedy[:, 1] == 0).all(), "agent b never saw this observation: all values 0, first available wins"
    torch.manual_seed(0)
    explore, _ = algo.act(obs, avail, None, explore=True, t_env=0)  # epsilon 1 at t=0
    assert not (explore == 1).any() and set(explore.flatten().tolist()) == {0, 2}


def test_too_many_distinct_observations_is_a_clear_error_that_names_idqn():
    algo = IQL(spec(limit=3), IQLConfig(max_states=2))
    batch = EpisodeBatch.zeros(spec(limit=3), 1)
    batch.obs[0, :, :, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4]).unsqueeze(-1)
    batch.avail.fill_(True)
    batch.alive.fill_(True)
    batch.filled.fill_(True)
    with pytest.raises(UserError, match=r"more than 2 distinct observations.*idqn.*algo.max_states"):
        learn_from(algo, batch)


def test_tables_survive_a_weights_only_checkpoint():
    algo = IQL(spec(), IQLConfig(alpha=0.5))
    learn_from(algo, two_step_batch(spec()))
    blob = io.BytesIO()
    torch.save(algo.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    other = IQL(spec(), IQLConfig())
    other.load_state_dict(state)
    obs = torch.tensor([[[0.0], [0.0]], [[1.0], [1.0]], [[7.0], [7.0]]])
    assert torch.equal(other.values(obs), algo.values(obs))
    assert [len(t) for t in other.tables] == [2, 2] and other.updates == algo.updates


class Corridor(ParallelEnv):
    """Two agents on a corridor of 4 cells. Both must step forward (action 1) together to advance;
    action 2 is masked. Reaching the last cell pays 1 and ends the episode; it is cut after 8 steps."""

    metadata = {"name": "corridor_v0"}

    def __init__(self):
        self.possible_agents = ["a", "b"]
        self.max_cycles = 8

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(0.0, 3.0, (1,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(3)

    def _out(self):
        obs = {a: np.array([self.cell], np.float32) for a in self.agents}
        return obs, {a: {"action_mask": np.array([1, 1, 0], np.int8)} for a in self.agents}

    def reset(self, seed=None, options=None):
        self.agents, self.cell, self.t = list(self.possible_agents), 0, 0
        return self._out()

    def step(self, actions):
        assert all(a != 2 for a in actions.values()), "a masked action reached the env"
        self.t += 1
        self.cell += all(a == 1 for a in actions.values())
        done = self.cell == 3
        obs, infos = self._out()
        rewards = {a: float(done) for a in self.agents}
        terms = {a: done for a in self.agents}
        truncs = {a: self.t >= 8 and not done for a in self.agents}
        if done or self.t >= 8:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def test_iql_learns_a_multi_step_task_through_bootstrapping():
    torch.manual_seed(0)
    venv = VectorEnv(lambda: PettingZooAdapter(Corridor(), "corridor", reward_aggregation="mean"), 4)
    algo = IQL(venv.spec, IQLConfig(alpha=0.3, gamma=0.9, epsilon_anneal_steps=1500))
    loop = ReplayLoop(algo, venv, seed=0)
    t = 0
    while t < 2000:
        t += loop.iterate(t).steps
    returns = EpisodeRunner(venv, seed=1).evaluate(algo, 4)
    assert returns.tolist() == [1.0] * 4
    # Values discount with the distance to the goal: gamma^2, gamma, 1 for cells 0, 1, 2.
    for cell, expected in [(0, 0.81), (1, 0.9), (2, 1.0)]:
        assert q(algo, 0, float(cell))[1] == pytest.approx(expected, abs=0.1)
    assert max(len(t) for t in algo.tables) <= 4


def test_latest_episodes_buffer_copies_the_batch_and_hands_out_the_newest():
    buffer = LatestEpisodes()
    batch = two_step_batch(spec())
    buffer.insert(batch)
    batch.reward.fill_(99.0)
    assert buffer.newest(1).reward[0].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="holds 1"):
        buffer.newest(2)


def test_cli_iql_on_continuous_observations_fails_in_one_line(cli, tmp_path):
    result = cli("run", "--algo", "iql", "--env", "simple_spread", "--steps", "2000", "--wandb", "disabled",
                     "--no-progress", "--run-dir", str(tmp_path), "--set", "algo.max_states=100", "--set", "n_envs=2")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "iql" in result.stderr and "idqn" in result.stderr and "distinct observations" in result.stderr


def test_cli_iql_on_climbing_checkpoints_and_shows_its_tables(cli, tmp_path):
    run = cli("run", "--algo", "iql", "--env", "climbing", "--steps", "400", "--wandb", "disabled",
                  "--no-progress", "--run-dir", str(tmp_path), "--run-id", "r")
    assert run.returncode == 0, run.stderr
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state"]
    assert [t["q"].shape for t in state["tables"]] == [(1, 3), (1, 3)], "one observation per agent, 3 actions"
    shown = cli("eval", "--run", str(tmp_path / "r"), "--qtable", "--episodes", "2")
    assert shown.returncode == 0, shown.stderr
    assert "Q_tot: none (independent learners" in shown.stdout
    rows = [line.split() for line in shown.stdout.splitlines() if line.startswith("agent_")]
    printed = np.array([[float(v) for v in r[1:]] for r in rows])
    assert np.allclose(printed, np.stack([t["q"][0].numpy() for t in state["tables"]]), atol=0.006)


def test_tables_grow_past_their_first_allocation():
    algo = IQL(spec(limit=40), IQLConfig(alpha=1.0))
    b = EpisodeBatch.zeros(spec(limit=40), 1)
    b.obs[0, :, :, 0] = torch.arange(41.0).unsqueeze(-1)
    b.avail.fill_(True)
    b.alive.fill_(True)
    b.filled.fill_(True)
    b.terminated[0, -1] = True
    b.reward[0] = torch.arange(40.0)
    learn_from(algo, b)
    assert len(algo.tables[0]) == 40
    assert [q(algo, 0, float(o))[0] for o in (0, 15, 16, 17, 39)] == [0.0, 15.0, 16.0, 17.0, 39.0]
