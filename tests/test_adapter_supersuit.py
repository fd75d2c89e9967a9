"""SuperSuit-wrapped envs, parallel and AEC, go through the adapter as they come."""

from __future__ import annotations

import numpy as np
import pytest

from marlzoo.envs.adapter import PettingZooAdapter
from tests.adapter_envs import Departures

ss = pytest.importorskip("supersuit")
from mpe2 import simple_speaker_listener_v4  # noqa: E402


@pytest.mark.parametrize("api", ["parallel", "aec"])
def test_padding_wrappers_remove_the_adapters_own_padding(api):
    make = simple_speaker_listener_v4.parallel_env if api == "parallel" else simple_speaker_listener_v4.env
    env = ss.pad_action_space_v0(ss.pad_observations_v0(make()))
    adapter = PettingZooAdapter(env, "padded")
    spec = adapter.spec
    assert spec.obs_sizes == (11, 11) and spec.action_sizes == (5, 5) and not spec.is_padded
    assert not spec.turn_based  # SuperSuit keeps is_parallelizable, so the AEC env runs in parallel
    twin = simple_speaker_listener_v4.parallel_env()
    adapter.reset(seed=4)
    observations, _ = twin.reset(seed=4)
    speaker = spec.agents.index("speaker_0")
    np.testing.assert_allclose(adapter.obs[speaker, :3], observations["speaker_0"], rtol=1e-6)
    assert not adapter.obs[speaker, 3:].any()
    reward, _, _ = adapter.step(np.array([1, 2]))
    _, rewards, _, _, _ = twin.step({"speaker_0": 1, "listener_0": 2})
    assert reward == pytest.approx(sum(rewards.values()), rel=1e-5)


@pytest.mark.parametrize("api", ["parallel", "aec"])
def test_agent_indicator_is_part_of_the_observation(api):
    make = simple_speaker_listener_v4.parallel_env if api == "parallel" else simple_speaker_listener_v4.env
    env = ss.agent_indicator_v0(ss.pad_observations_v0(make()), type_only=False)
    adapter = PettingZooAdapter(env, "indicated")
    assert adapter.spec.obs_shape == (13,)
    adapter.reset(seed=0)
    ids = adapter.obs[:, -2:]
    np.testing.assert_array_equal(ids, np.eye(2))


def test_black_death_keeps_departed_agents_present_with_zero_observations():
    """With black_death the env itself keeps every agent in play, so marlzoo sees them alive. (In
    SuperSuit 3.11, black_death_v3 never ends an episode (SuperSuit PR #265); the episode limit does.)"""
    adapter = PettingZooAdapter(ss.black_death_v3(Departures(leave_at=(2, 4, 6), max_cycles=6)), "black_death")
    adapter.reset()
    rewards = []
    for t in range(6):
        reward, terminated, truncated = adapter.step(np.array([0, 1, 2]))
        rewards.append(reward)
        assert adapter.alive.all()
        assert (terminated or truncated) == (t == 5)
        if t >= 2:
            assert not adapter.obs[0].any()  # a0 left after step 2: black death's zeros
    assert rewards == [3.0, 3.0, 2.0, 2.0, 1.0, 1.0]


pistonball_v6 = pytest.importorskip("pettingzoo.butterfly.pistonball_v6")


def test_supersuit_image_pipeline_on_pistonball_is_taken_as_given():
    env = pistonball_v6.parallel_env(n_pistons=4, max_cycles=6, continuous=False, render_mode="rgb_array")
    env = ss.color_reduction_v0(env, mode="full")
    env = ss.resize_v1(env, x_size=16, y_size=24)
    env = ss.frame_stack_v1(env, 3)
    env = ss.dtype_v0(env, np.float32)
    adapter = PettingZooAdapter(env, "pistonball_ss", reward_aggregation="mean")
    spec = adapter.spec
    assert spec.obs_shape == (3, 24, 16) and spec.n_actions == 3 and spec.episode_limit == 6
    assert spec.state_source == "concatenated observations"  # pistonball's state() is the screen
    adapter.reset(seed=0)
    raw, _ = env.reset(seed=0)
    for i, agent in enumerate(spec.agents):
        np.testing.assert_allclose(adapter.obs[i], raw[agent].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    before = adapter.obs.copy()
    for _ in range(3):
        adapter.step(np.array([2, 0, 2, 0]))
    assert not np.array_equal(before[:, -1], adapter.obs[:, -1]), "the newest frame must move"
    np.testing.assert_array_equal(adapter.obs[:, 0], adapter.obs[:, 0].clip(0, 1))
