"""The PettingZoo adapter: fixed shapes, masks, padding, departures, rewards and errors."""

from __future__ import annotations

import numpy as np
import pytest
from mpe2 import simple_reference_v3, simple_speaker_listener_v4, simple_spread_v3

from marlzoo.envs.adapter import Adapter, ParallelAdapter, PettingZooAdapter, TurnBasedAdapter
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from tests.adapter_envs import TakeTurns
from tests.envs_for_tests import MaskedCorridor, OddSpaces, ReachGoal


def test_simple_spread_shapes_and_state_from_env():
    adapter = PettingZooAdapter(simple_spread_v3.parallel_env(), "simple_spread")
    spec = adapter.spec
    assert (spec.n_agents, spec.obs_dim, spec.n_actions, spec.episode_limit) == (3, 18, 5, 25)
    assert spec.action_kind == "discrete" and spec.state_source == "env.state()"
    assert spec.env_package == "mpe2" and spec.env_version != "unknown"
    adapter.reset(seed=1)
    assert adapter.obs.shape == (3, 18) and adapter.state.shape == (spec.state_dim,)
    assert adapter.avail.all() and adapter.alive.all()
    np.testing.assert_allclose(adapter.state, np.asarray(adapter.env.state()), rtol=1e-6)


def test_reward_is_sum_over_agents_and_episode_truncates_at_limit():
    env = simple_spread_v3.parallel_env(max_cycles=5)
    twin = simple_spread_v3.parallel_env(max_cycles=5)
    adapter = PettingZooAdapter(env, "simple_spread")
    adapter.reset(seed=3)
    twin.reset(seed=3)
    for t in range(5):
        reward, terminated, truncated = adapter.step(np.array([1, 2, 3]))
        _, rewards, _, _, _ = twin.step({"agent_0": 1, "agent_1": 2, "agent_2": 3})
        assert reward == pytest.approx(sum(rewards.values()), rel=1e-6)
        assert not terminated
        assert truncated == (t == 4)


def test_mean_aggregation_divides_by_agents():
    summed = PettingZooAdapter(simple_spread_v3.parallel_env(), "s", reward_aggregation="sum")
    meaned = PettingZooAdapter(simple_spread_v3.parallel_env(), "s", reward_aggregation="mean")
    summed.reset(seed=0)
    meaned.reset(seed=0)
    r_sum = summed.step(np.array([1, 1, 1]))[0]
    r_mean = meaned.step(np.array([1, 1, 1]))[0]
    assert r_mean == pytest.approx(r_sum / 3, rel=1e-6)


def test_concat_obs_state_is_the_padded_observations():
    adapter = PettingZooAdapter(simple_spread_v3.parallel_env(), "simple_spread", state="concat_obs")
    adapter.reset(seed=0)
    assert adapter.spec.state_source == "concatenated observations"
    np.testing.assert_array_equal(adapter.state, adapter.obs.reshape(-1))


def test_heterogeneous_agents_are_padded_and_masked():
    adapter = PettingZooAdapter(simple_speaker_listener_v4.parallel_env(), "simple_speaker_listener")
    spec = adapter.spec
    assert spec.obs_sizes == (3, 11) and spec.action_sizes == (3, 5)
    assert spec.obs_dim == 11 and spec.n_actions == 5 and spec.is_padded
    adapter.reset(seed=0)
    speaker = spec.agents.index("speaker_0")
    assert not adapter.obs[speaker, 3:].any(), "padding must be zeros"
    assert adapter.avail[speaker].tolist() == [True, True, True, False, False]
    assert adapter.avail[1 - speaker].all()


def test_aec_env_is_run_in_parallel():
    adapter = PettingZooAdapter(simple_reference_v3.env(), "simple_reference_aec")
    adapter.reset(seed=0)
    assert adapter.spec.n_agents == 2 and adapter.spec.n_actions == 50
    reward, terminated, truncated = adapter.step(np.array([0, 1]))
    assert np.isfinite(reward) and not (terminated or truncated)


@pytest.mark.parametrize("mask_in", ["obs", "infos"])
def test_action_mask_from_dict_obs_or_infos(mask_in):
    adapter = PettingZooAdapter(MaskedCorridor(mask_in=mask_in), "masked", episode_limit=4)
    assert adapter.spec.obs_dim == 3
    adapter.reset()
    assert adapter.avail.tolist() == [[True, False, True, False]] * 2
    adapter.step(np.array([2, 0]))  # the env itself asserts that no masked action reaches it


def test_departed_agent_is_masked_and_never_stepped():
    adapter = PettingZooAdapter(MaskedCorridor(limit=4, b_leaves_at=2), "masked", episode_limit=4)
    adapter.reset()
    adapter.step(np.array([2, 2]))
    assert adapter.alive.tolist() == [True, True]
    reward, terminated, truncated = adapter.step(np.array([2, 2]))
    assert reward == 2.0 and adapter.alive.tolist() == [True, False]
    assert not adapter.obs[1].any()
    assert adapter.avail[1].tolist() == [True, False, False, False]
    reward, _, _ = adapter.step(np.array([2, 3]))  # b's action 3 would fail the env's own check
    assert reward == 1.0


def test_termination_is_not_truncation():
    adapter = PettingZooAdapter(ReachGoal(), "reach", episode_limit=3)
    adapter.reset()
    assert adapter.step(np.array([1, 1]))[1:] == (True, False)
    adapter.reset()
    assert adapter.step(np.array([0, 1]))[1:] == (False, False)
    adapter.step(np.array([0, 0]))
    assert adapter.step(np.array([0, 0]))[1:] == (False, True)


def test_own_episode_limit_truncates_a_longer_env():
    adapter = PettingZooAdapter(simple_spread_v3.parallel_env(max_cycles=25), "s", episode_limit=2)
    adapter.reset(seed=0)
    assert adapter.step(np.zeros(3, dtype=int))[1:] == (False, False)
    assert adapter.step(np.zeros(3, dtype=int))[1:] == (False, True)


def test_box_actions_are_described():
    adapter = PettingZooAdapter(simple_spread_v3.parallel_env(continuous_actions=True), "s")
    spec = adapter.spec
    assert spec.action_kind == "continuous" and spec.n_actions == 5
    assert spec.action_low == ((0.0,) * 5,) * 3 and spec.action_high == ((1.0,) * 5,) * 3


def test_unsupported_spaces_name_env_agent_and_space():
    with pytest.raises(UserError, match=r"env 'odd', agent 'p': observation space Text"):
        PettingZooAdapter(OddSpaces(obs_space="text"), "odd")
    with pytest.raises(UserError, match=r"env 'odd', agent 'p': action space Box"):
        PettingZooAdapter(OddSpaces(obs_space="box", act_space="box2d"), "odd")
    with pytest.raises(UserError, match="mixes discrete and continuous"):
        PettingZooAdapter(OddSpaces(obs_space="box", act_space="mixed"), "odd")


def test_vector_env_rows_are_views_of_each_copy():
    venv = VectorEnv(lambda: PettingZooAdapter(simple_spread_v3.parallel_env(), "s"), 3)
    venv.reset([10, 11, 12])
    assert venv.obs.shape == (3, 3, 18)
    assert not np.array_equal(venv.obs[0], venv.obs[1]), "copies seeded differently must differ"
    before = venv.obs[2].copy()
    venv.step(np.ones((3, 3), dtype=np.int64), np.array([True, True, False]))
    np.testing.assert_array_equal(venv.obs[2], before)  # an inactive copy is not stepped
    assert not np.array_equal(venv.obs[0], venv.envs[0].obs * 0)


def test_truncated_agents_keep_their_final_observation_for_bootstrapping():
    adapter = PettingZooAdapter(simple_spread_v3.parallel_env(max_cycles=2), "s")
    adapter.reset(seed=0)
    adapter.step(np.zeros(3, dtype=int))
    _, terminated, truncated = adapter.step(np.zeros(3, dtype=int))
    assert truncated and not terminated
    assert adapter.alive.all(), "a time limit does not remove the agents from the state they reached"
    assert np.abs(adapter.obs).sum(axis=1).min() > 0, "their final observations are kept"


def test_terminated_agents_are_gone_from_the_final_state():
    adapter = PettingZooAdapter(ReachGoal(), "reach", episode_limit=3)
    adapter.reset()
    _, terminated, _ = adapter.step(np.array([1, 1]))
    assert terminated and not adapter.alive.any() and not adapter.obs.any()


def test_pettingzoo_adapter_picks_the_adapter_that_runs_the_env():
    assert type(PettingZooAdapter(simple_spread_v3.parallel_env(), "s")) is ParallelAdapter
    assert type(PettingZooAdapter(simple_reference_v3.env(), "r")) is ParallelAdapter  # is_parallelizable
    turns = PettingZooAdapter(TakeTurns(), "t", episode_limit=4)
    assert type(turns) is TurnBasedAdapter and isinstance(turns, Adapter)
    assert turns.turn_based and not turns.steps_directly


def test_each_adapter_built_directly_refuses_the_other_ones_envs():
    with pytest.raises(UserError, match=r"env 't' is a turn-based AECEnv .*run it with TurnBasedAdapter"):
        ParallelAdapter(TakeTurns(), "t", episode_limit=4)
    with pytest.raises(UserError, match=r"env 's' \(.*\) is not a PettingZoo AECEnv; TurnBasedAdapter"):
        TurnBasedAdapter(simple_spread_v3.parallel_env(), "s")
