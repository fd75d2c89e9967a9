"""The field's benchmark envs, Level-Based Foraging (lbforaging) and the multi-robot warehouse (rware):
Gymnasium multi-agent envs run by EPyMARL's spelling, ``module:GymnasiumId``."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

pytest.importorskip("lbforaging")
pytest.importorskip("rware")

import gymnasium  # noqa: E402

from marlzoo.envs.adapter import GymnasiumMultiAgentAdapter, PettingZooAdapter, make_adapter  # noqa: E402
from marlzoo.envs.catalogue import default_episode_limit, make_env, resolve_env_factory  # noqa: E402
from marlzoo.errors import UserError  # noqa: E402
from tests.conftest import FAST, assert_one_line_error, read_metrics  # noqa: E402

LBF = "lbforaging:Foraging-8x8-2p-2f-coop-v3"
LBF_EASY = "lbforaging:Foraging-5x5-2p-1f-v3"  # one food that either agent can load: rewards come often
RWARE = "rware:rware-tiny-2ag-v2"


def random_actions(adapter, rng):
    return rng.integers(0, adapter.spec.n_actions, adapter.spec.n_agents)


def run_episode(adapter, rng, seed):
    """Random play for one episode; returns (observations, team rewards, terminated, truncated)."""
    adapter.reset(seed=seed)
    observations, rewards = [adapter.obs.copy()], []
    while True:
        reward, terminated, truncated = adapter.step(random_actions(adapter, rng))
        observations.append(adapter.obs.copy())
        rewards.append(reward)
        if terminated or truncated:
            return np.stack(observations), np.array(rewards), terminated, truncated


@pytest.mark.parametrize("name, package, obs_dim, n_actions, limit", [
    (LBF, "lbforaging", 12, 6, 50),
    (RWARE, "rware", 71, 5, 500),
])
def test_spec_of_each_benchmark_id(name, package, obs_dim, n_actions, limit):
    adapter = make_env(name)
    spec = adapter.spec
    assert isinstance(adapter, GymnasiumMultiAgentAdapter)
    assert spec.agents == ("agent_0", "agent_1")
    assert spec.obs_shape == (obs_dim,) and spec.state_dim == 2 * obs_dim
    assert spec.action_kind == "discrete" and spec.n_actions == n_actions and spec.action_sizes == (n_actions,) * 2
    assert spec.episode_limit == limit == default_episode_limit(name)
    assert spec.env_package == package and spec.env_version == importlib.metadata.version(package)
    assert spec.state_source == "concatenated observations" and spec.reward_aggregation == "sum"
    adapter.close()


@pytest.mark.parametrize("name", [LBF_EASY, RWARE])
def test_adapter_steps_exactly_as_the_raw_env(name):
    """Lockstep with the raw env: the same observations, the state their concatenation, the team
    reward the sum of the list of rewards."""
    adapter = make_env(name)
    raw = gymnasium.make(name.split(":")[1], disable_env_checker=True)
    rng = np.random.default_rng(3)
    rewarded = 0
    for episode in range(6 if name == LBF_EASY else 1):
        adapter.reset(seed=episode)
        obs, _ = raw.reset(seed=episode)
        for _ in range(adapter.spec.episode_limit):
            np.testing.assert_array_equal(adapter.obs, np.stack(obs))
            np.testing.assert_array_equal(adapter.state, np.concatenate(obs))
            assert adapter.alive.all() and adapter.avail.all()
            actions = random_actions(adapter, rng)
            team, terminated, truncated = adapter.step(actions)
            obs, rewards, raw_done, raw_trunc, _ = raw.step(tuple(int(a) for a in actions))
            assert isinstance(rewards, list) and team == pytest.approx(sum(rewards))
            rewarded += team > 0
            if terminated or truncated:
                assert raw_done or raw_trunc
                break
            assert not (raw_done or raw_trunc)
    if name == LBF_EASY:  # random play in the warehouse earns nothing: the sum is checked on LBF
        assert rewarded > 0, "random play on the easy task should collect food at least once"


def test_seeds_repeat_and_differ():
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    first = run_episode(make_env(LBF), rng_a, seed=7)
    again = run_episode(make_env(LBF), rng_b, seed=7)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    other = make_env(LBF)
    other.reset(seed=8)
    assert not np.array_equal(other.obs, first[0][0]), "another seed should lay out another field"
    a, b = make_env(RWARE), make_env(RWARE)
    a.reset(seed=1), b.reset(seed=1)
    for _ in range(50):
        actions = random_actions(a, rng_a)
        assert a.step(actions) == b.step(actions)
        np.testing.assert_array_equal(a.obs, b.obs)


def test_epymarl_time_limits_truncate_and_an_early_end_terminates():
    rng = np.random.default_rng(0)
    # LBF's coop food is rarely eaten by random play: the episode reaches the 50-step limit. The env
    # raises `terminated` there itself; the adapter reports the cut as truncated, agents still alive.
    obs, rewards, terminated, truncated = run_episode(make_env(LBF), rng, seed=0)
    assert len(rewards) == 50 and truncated and not terminated
    assert obs[-1].any()
    limited = make_env(LBF, episode_limit=20)
    _, rewards, terminated, truncated = run_episode(limited, rng, seed=0)
    assert len(rewards) == 20 and truncated and not terminated and limited.alive.all()
    _, rewards, terminated, truncated = run_episode(make_env(RWARE), rng, seed=0)
    assert len(rewards) == 500 and truncated and not terminated
    # The one food of the easy task is often eaten before the limit: that ends the episode, terminated.
    easy = make_env(LBF_EASY)
    ends = [run_episode(easy, rng, seed=s) for s in range(30)]
    early = [e for e in ends if len(e[1]) < 50]
    assert early, "random play should finish the easy task early at least once in 30 episodes"
    for obs, rewards, terminated, truncated in early:
        assert terminated and not truncated and rewards[-1] > 0
        assert not obs[-1].any()  # every agent has left: zeros
    for obs, rewards, terminated, truncated in ends:
        if len(rewards) == 50:
            assert truncated and not terminated


def test_an_episode_limit_beyond_the_envs_own_is_refused():
    with pytest.raises(UserError, match=r"ends its episodes itself after 50 steps.*at most 50"):
        make_env(LBF, episode_limit=60)
    # rware takes its own limit as a kwarg: raised there, the longer limit is accepted.
    adapter = make_env(RWARE, {"max_steps": 600}, episode_limit=600)
    assert adapter.spec.episode_limit == 600


def test_spelling_module_then_gymnasium_id_or_module_then_factory():
    # module:GymnasiumId -> gymnasium.make(id); package.module:factory -> the callable attribute.
    by_id = resolve_env_factory(LBF)()
    assert by_id.spec.id == "Foraging-8x8-2p-2f-coop-v3"
    factory = resolve_env_factory("lbforaging.foraging:ForagingEnv")
    from lbforaging.foraging import ForagingEnv

    assert factory is ForagingEnv
    kwargs = {k: v for k, v in gymnasium.spec("Foraging-8x8-2p-2f-coop-v3").kwargs.items()}
    kwargs["max_episode_steps"] = 30
    adapter = make_env("lbforaging.foraging:ForagingEnv", kwargs)
    # By factory there is no EPyMARL default: the limit is the env's own.
    assert default_episode_limit("lbforaging.foraging:ForagingEnv") is None
    assert adapter.spec.episode_limit == 30 and adapter.spec.obs_shape == (12,)
    # make_adapter takes either kind of env; the PettingZoo adapter points a Gymnasium one there.
    assert isinstance(make_adapter(gymnasium.make("rware-tiny-2ag-v2"), "w"), GymnasiumMultiAgentAdapter)
    with pytest.raises(UserError, match="Gymnasium multi-agent env.*make_adapter"):
        PettingZooAdapter(gymnasium.make("rware-tiny-2ag-v2"), "w")


def test_scale_obs_puts_lbf_observations_in_zero_one_and_leaves_rware_alone():
    scaled, plain = make_env(LBF, scale_obs=True), make_env(LBF)
    assert "observation: Box scaled from its bounds to [0, 1]" in scaled.spec.transforms
    rng = np.random.default_rng(0)
    scaled.reset(seed=4), plain.reset(seed=4)
    for _ in range(50):
        low, high = np.array([-1, -1, 0] * 4), np.array([7, 7, 4, 7, 7, 4, 7, 7, 2, 7, 7, 2])  # 8x8, levels
        np.testing.assert_allclose(scaled.obs, (plain.obs - low) / (high - low), rtol=1e-6)
        np.testing.assert_array_equal(scaled.state, scaled.obs.reshape(-1))
        actions = random_actions(plain, rng)
        assert scaled.step(actions) == plain.step(actions)
    warehouse = make_env(RWARE, scale_obs=True)  # unbounded Box observations: read as they are
    assert not any("scaled" in note for note in warehouse.spec.transforms)


def test_state_from_the_env_is_refused():
    with pytest.raises(UserError, match="has no state\\(\\); set env.state=concat_obs"):
        make_env(LBF, state="env")


@pytest.mark.parametrize("env, fragments", [
    ("nosuchmodule_xyz:Foo-v0", ["env 'nosuchmodule_xyz:Foo-v0' needs module 'nosuchmodule_xyz'", "failed to import"]),
    ("lbforaging:Foraging-8x8-2p-2f-cop-v3",
     ["'lbforaging' has no callable 'Foraging-8x8-2p-2f-cop-v3'", "not a Gymnasium id",
      "did you mean 'lbforaging:Foraging-8x8-2p-2f-coop-v3'"]),
    ("rware:rware-huge-2ag-v9", ["not a Gymnasium id", "module:GymnasiumId"]),
])
def test_bad_ids_are_one_line_and_exit_2(cli, tmp_path, env, fragments):
    result = cli("run", "--algo", "qmix", "--env", env, "--wandb", "disabled", cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "runs").exists()


def test_a_run_records_the_env_package_version_and_time_limit(cli, tmp_path):
    import json

    result = cli("run", "--algo", "qmix", "--env", LBF, "--steps", "200", *FAST,
                 "--run-dir", str(tmp_path), "--run-id", "lbf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "lbf" / "run.json").read_text())
    assert info["env_package"] == "lbforaging" and info["env_version"] == "2.0.0"
    assert info["episode_limit"] == 50 and info["env_spec"]["episode_limit"] == 50
    rows = read_metrics(tmp_path / "lbf")
    assert any("test/return_mean" in r for r in rows)
    assert all(r["train/ep_length_mean"] <= 50 for r in rows if "train/ep_length_mean" in r)
