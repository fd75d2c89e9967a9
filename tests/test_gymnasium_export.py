"""marlzoo.envs.to_gymnasium: a PettingZoo env as one Gymnasium env for single-agent libraries."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium import spaces
from mpe2 import simple_speaker_listener_v4, simple_spread_v3

from marlzoo.envs import to_gymnasium
from marlzoo.errors import UserError
from tests.adapter_envs import Departures, TakeTurns

sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.env_checker import check_env  # noqa: E402


def test_discrete_team_is_one_multidiscrete_controller():
    env = to_gymnasium(simple_spread_v3.parallel_env(max_cycles=25))
    assert env.action_space == spaces.MultiDiscrete([5, 5, 5])
    assert env.observation_space.shape == (54,)
    obs, info = env.reset(seed=3)
    twin = simple_spread_v3.parallel_env(max_cycles=25)
    raw, _ = twin.reset(seed=3)
    np.testing.assert_allclose(obs, np.concatenate([raw[a] for a in twin.possible_agents]), rtol=1e-6)
    total, steps, done = 0.0, 0, False
    while not done:
        action = np.array([steps % 5, 1, 4])
        obs, reward, terminated, truncated, info = env.step(action)
        _, rewards, _, _, _ = twin.step({"agent_0": steps % 5, "agent_1": 1, "agent_2": 4})
        assert reward == pytest.approx(sum(rewards.values()), rel=1e-5)
        steps += 1
        done = terminated or truncated
    assert steps == 25 and truncated and not terminated


def test_check_env_passes_for_discrete_continuous_and_heterogeneous_teams():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(to_gymnasium(simple_spread_v3.parallel_env()), warn=True)
    assert not caught, [str(w.message) for w in caught]
    check_env(to_gymnasium(simple_speaker_listener_v4.parallel_env()), warn=False)
    continuous = to_gymnasium(simple_spread_v3.parallel_env(continuous_actions=True))
    assert isinstance(continuous.action_space, spaces.Box) and continuous.action_space.shape == (15,)
    np.testing.assert_array_equal(continuous.action_space.low, 0.0)
    check_env(continuous, warn=False)
    check_env(to_gymnasium("simple_spread", observation="state"), warn=False)


def test_heterogeneous_actions_use_each_agents_own_count():
    env = to_gymnasium(simple_speaker_listener_v4.parallel_env())
    assert env.action_space == spaces.MultiDiscrete([3, 5])  # speaker, listener: no padding


def test_the_episode_ends_when_every_agent_is_done():
    env = to_gymnasium(Departures(leave_at=(2, 3, 4), max_cycles=10))
    env.reset(seed=0)
    ends = [env.step(np.array([0, 1, 2]))[2:4] for _ in range(4)]
    assert ends == [(False, False), (False, False), (False, False), (True, False)]


def test_turn_based_game_exports_with_masks_and_legal_substitutes():
    env = to_gymnasium(TakeTurns(turns=4), episode_limit=6)
    assert env.action_space == spaces.MultiDiscrete([4, 4])
    env.reset(seed=0)
    assert env.action_masks().tolist() == [True, False, False, False] + [True] * 4  # first's turn 0: only 0
    _, reward, _, _, info = env.step(np.array([3, 2]))  # 3 is illegal for 'first': it plays 0
    assert info["masked_actions"] == 1 and reward == pytest.approx(2 * 1 + 0.5)
    assert env.adapter.env.moves == [("first", 0)]
    check_env(to_gymnasium(TakeTurns(turns=4), episode_limit=6), warn=False)


def test_only_centralized_mode_and_clear_errors():
    with pytest.raises(UserError, match=r"mode 'decentralized' is not supported.*pettingzoo_env_to_vec_env_v1"):
        to_gymnasium(simple_spread_v3.parallel_env(), mode="decentralized")
    with pytest.raises(UserError, match=r"observation must be 'joint' or 'state'"):
        to_gymnasium(simple_spread_v3.parallel_env(), observation="local")


def test_stable_baselines3_ppo_learns_on_simple_spread():
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    torch.set_num_threads(1)
    env = to_gymnasium("simple_spread")
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=4, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=1024)
    mean, _ = evaluate_policy(model, Monitor(to_gymnasium("simple_spread")), n_eval_episodes=4, deterministic=True)
    assert np.isfinite(mean) and -400 < mean < 0  # simple_spread returns: the sum of 3 agents over 25 steps
    action, _ = model.predict(env.reset(seed=1)[0], deterministic=True)
    assert env.action_space.contains(action)


def test_continuous_joint_action_is_split_back_per_agent():
    env = to_gymnasium(Departures(continuous=True))
    assert env.action_space.shape == (6,)
    env.reset(seed=0)
    _, reward, _, _, _ = env.step(np.array([0.0, 0.9, 0.5, -0.9, 1.0, 0.3], np.float32))  # targets/2: 0, .5, 1
    assert reward == pytest.approx(3.0)
    _, reward, _, _, _ = env.step(np.array([0.5, 0.0, 0.5, 0.0, 0.5, 0.0], np.float32))
    assert reward == pytest.approx(0.5 + 1.0 + 0.5)


def test_rendering_passes_through_to_the_pettingzoo_env():
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env

    env = to_gymnasium("simple_spread", render_mode="rgb_array")
    assert env.render_mode == "rgb_array"
    assert "rgb_array" in env.metadata["render_modes"] and env.metadata["render_fps"] == 10
    env.reset(seed=3)
    first = env.render()
    assert first.shape == (700, 700, 3) and first.dtype == np.uint8
    twin = simple_spread_v3.parallel_env(max_cycles=25, render_mode="rgb_array")
    twin.reset(seed=3)
    np.testing.assert_array_equal(first, twin.render())  # the very frame mpe2 draws of that state
    for _ in range(5):
        env.step(np.array([1, 2, 3]))
    assert (env.render() != first).any(), "the agents moved"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gymnasium_check_env(to_gymnasium("simple_spread", render_mode="rgb_array"), skip_render_check=False)
    # Its other warnings are on the unbounded observation Box, and on testing other modes without a spec.
    about_render = [str(w.message) for w in caught if "render" in str(w.message) and "alternative" not in str(w.message)]
    assert not about_render, about_render

    built = to_gymnasium(simple_spread_v3.parallel_env(render_mode="rgb_array"))  # drawn as the user built it
    built.reset(seed=3)
    assert built.render_mode == "rgb_array" and built.render().shape == (700, 700, 3)
    plain = to_gymnasium(simple_spread_v3.parallel_env())
    assert plain.render_mode is None
    with pytest.raises(UserError, match=r"built with render_mode=None.*build your PettingZoo env with render_mode"):
        to_gymnasium(simple_spread_v3.parallel_env(), render_mode="rgb_array")
    with pytest.raises(UserError, match=r"env 'nonmonotonic' does not take render_mode='rgb_array'"):
        to_gymnasium("nonmonotonic", render_mode="rgb_array")
