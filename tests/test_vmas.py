"""The VMAS backend (``--env vmas:<scenario>``): VMAS's own arrays for the same seed and actions, the
per-copy resets and seeds it documents, its own random stream, real training through the CLI, and
one-line refusals."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

vmas = pytest.importorskip("vmas")

from marlzoo.envs.vmas_env import VmasEnv, vmas_env  # noqa: E402
from tests.conftest import FAST, assert_one_line_error, read_metrics  # noqa: E402

RUN = FAST[:-2]  # without algo.batch_size, which MAPPO does not have
CASES = [("navigation", False), ("simple_spread", True), ("balance", False)]


def raw_env(scenario: str, n: int, seed: int, continuous: bool, **kwargs):
    """VMAS's env as a VMAS user makes it, with the options marlzoo's backend sets."""
    return vmas.make_env(scenario, num_envs=n, seed=seed, continuous_actions=continuous, clamp_actions=True,
                         terminated_truncated=True, **kwargs)


def random_actions(rng: np.random.Generator, env: VmasEnv) -> np.ndarray:
    n, A, k = env.n, env.spec.n_agents, env.spec.n_actions
    if env.continuous:
        return rng.uniform(-1.5, 1.5, (n, A, k)).astype(np.float32)  # out of range too: both clamp
    return rng.integers(0, k, (n, A))


@pytest.mark.parametrize("scenario,continuous", CASES, ids=[c[0] for c in CASES])
def test_arrays_are_vmas_own_step_for_step(scenario, continuous):
    """Same seed, same actions, finished copies reset as they end and others at random times: every
    observation, state, team reward and episode end is what VMAS itself returns (to the bit), through
    40 steps of episodes of up to 10."""
    n, limit = 4, 10
    ours = VmasEnv(scenario, n, {"continuous_actions": continuous, "max_steps": limit}, seed=3)
    theirs = raw_env(scenario, n, 3, continuous)
    ours.reset([None] * n)
    obs = torch.stack(theirs.reset(), dim=1).numpy()
    assert np.array_equal(ours.obs, obs)
    rng = np.random.default_rng(0)
    steps = np.zeros(n, dtype=int)
    ends, partial = 0, False
    for _ in range(40):
        actions = random_actions(rng, ours)
        ours.step(actions, np.ones(n, dtype=bool))
        obs, rewards, terminated, _, _ = theirs.step([torch.from_numpy(actions[:, i]) for i in range(ours.spec.n_agents)])
        steps += 1
        assert np.array_equal(ours.obs, torch.stack(obs, dim=1).numpy())
        assert np.array_equal(ours.state, ours.obs.reshape(n, -1))
        np.testing.assert_allclose(ours.reward, torch.stack(rewards, dim=1).sum(dim=1).numpy(), rtol=1e-6, atol=1e-7)
        assert np.array_equal(ours.terminated, terminated.numpy())
        assert np.array_equal(ours.truncated, (steps >= limit) & ~terminated.numpy())
        ended = ours.terminated | ours.truncated
        ends += int(ended.sum())
        reset = ended | (rng.random(n) < 0.1)  # and some copies cut short at random times
        if reset.any():
            partial = partial or not reset.all()
            ours.reset_where(reset)
            if reset.all():  # documented: one batched reset, not one reset_at per copy
                theirs.reset()
            else:
                for i in np.flatnonzero(reset):
                    theirs.reset_at(int(i))
            steps[reset] = 0
            assert np.array_equal(ours.obs, torch.stack(theirs.get_from_scenario(True, False, False, False)[0], 1).numpy())
            assert not (ours.reward[reset].any() or ours.terminated[reset].any() or ours.truncated[reset].any())
    assert ends >= n  # episodes ended, and their copies were reset
    assert partial  # and some were reset alone, by reset_at


def test_a_seeded_copy_starts_where_its_seed_puts_it():
    """A copy reset with seed s starts where VMAS's reset_at puts a copy right after seed(s): the same
    start for the same seed, whichever copy it is, whatever the others did."""
    env = VmasEnv("navigation", 4, seed=0)
    env.reset([5, 6, 5, 7])
    assert np.array_equal(env.obs[0], env.obs[2])
    assert not np.array_equal(env.obs[0], env.obs[1]) and not np.array_equal(env.obs[1], env.obs[3])
    other = VmasEnv("navigation", 3, seed=9)
    other.reset([None] * 3)
    other.step(np.full((3, 4), 2), np.ones(3, dtype=bool))
    other.reset_where(np.array([False, True, False]), [None, 5, None])
    assert np.array_equal(other.obs[1], env.obs[0])
    raw = raw_env("navigation", 2, 1, False)
    raw.seed(5)
    raw.reset_at(1)
    assert np.array_equal(torch.stack(raw.get_from_scenario(True, False, False, False)[0], 1).numpy()[1], env.obs[0])


def test_reset_where_resets_only_the_masked_copies():
    env = VmasEnv("simple_spread", 4, {"max_steps": 5}, seed=2)
    env.reset([None] * 4)
    rng = np.random.default_rng(1)
    for _ in range(3):
        env.step(random_actions(rng, env), np.ones(4, dtype=bool))
    before = {k: getattr(env, k).copy() for k in ("obs", "state", "reward", "t")}
    mask = np.array([True, False, True, False])
    env.reset_where(mask)
    for key, values in before.items():
        assert np.array_equal(getattr(env, key)[~mask], values[~mask]), key
        assert not np.array_equal(getattr(env, key)[mask], values[mask]), key
    assert (env.t[mask] == 0).all() and (env.t[~mask] == 3).all()
    env.step(random_actions(rng, env), np.ones(4, dtype=bool))
    env.step(random_actions(rng, env), np.ones(4, dtype=bool))
    assert list(env.truncated) == [False, True, False, True]  # the unmasked copies kept their episodes


def test_copies_left_out_keep_their_rows():
    env = VmasEnv("balance", 3, seed=4)
    env.reset([None] * 3)
    env.step(np.full((3, 3), 4), np.ones(3, dtype=bool))
    before = env.obs.copy(), env.reward.copy()
    env.step(np.full((3, 3), 7), np.array([True, False, True]))
    assert np.array_equal(env.obs[1], before[0][1]) and env.reward[1] == before[1][1] and env.t[1] == 1
    assert not np.array_equal(env.obs[0], before[0][0]) and env.t[0] == 2


def test_the_team_reward_is_the_sum_or_the_mean_over_agents():
    summed = VmasEnv("navigation", 3, {"shared_rew": False}, seed=1)
    meaned = VmasEnv("navigation", 3, {"shared_rew": False}, reward_aggregation="mean", seed=1)
    raw = raw_env("navigation", 3, 1, False, shared_rew=False)
    for env in (summed, meaned):
        env.reset([None] * 3)
    raw.reset()
    rng = np.random.default_rng(2)
    for _ in range(5):
        actions = random_actions(rng, summed)
        summed.step(actions, np.ones(3, dtype=bool))
        meaned.step(actions, np.ones(3, dtype=bool))
        per_agent = torch.stack(raw.step([torch.from_numpy(actions[:, i]) for i in range(4)])[1], dim=1).numpy()
        assert np.ptp(per_agent, axis=1).max() > 0  # the agents' rewards differ, so sum and mean are told apart
        np.testing.assert_allclose(summed.reward, per_agent.sum(axis=1), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(meaned.reward, per_agent.mean(axis=1), rtol=1e-6, atol=1e-7)


def test_its_stream_is_its_own_and_leaves_the_global_generators_alone():
    """Two envs with one seed give the same episodes however they interleave, and drawing from
    torch, numpy and random around them gives what it gives without them."""
    def draws():
        return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    expected = draws(), draws()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    a, b = VmasEnv("simple_spread", 2, seed=6), VmasEnv("simple_spread", 2, seed=6)
    a.reset([None, None])
    first = draws()
    c = VmasEnv("simple_spread", 2, seed=7)
    c.reset([None, None])
    b.reset([None, None])
    assert (first, draws()) == expected
    assert np.array_equal(a.obs, b.obs) and not np.array_equal(a.obs, c.obs)


def test_its_spec_says_what_it_is():
    spread = vmas_env("vmas:simple_spread", 2, {"continuous_actions": True})
    assert (spread.spec.env_package, spread.spec.env_version) == ("vmas", vmas.__version__)
    assert spread.spec.action_kind == "continuous" and spread.spec.action_high[0] == (1.0, 1.0)
    assert any("port of MPE's simple_spread, not mpe2" in note for note in spread.spec.transforms)
    nav = vmas_env("vmas:navigation", 2, {"max_steps": 50}, episode_limit=30)
    assert nav.spec.action_kind == "discrete" and nav.spec.n_actions == 9 and nav.spec.episode_limit == 30
    assert nav.spec.state_dim == 4 * nav.spec.obs_dim and not any("mpe2" in note for note in nav.spec.transforms)
    assert vmas_env("vmas:navigation", 1).spec.episode_limit == 100


@pytest.mark.slow
def test_mappo_and_qmix_train_on_it_through_the_cli(cli, tmp_path):
    """Real training runs: metrics and run.json written, the same seed gives the same metrics file,
    marlzoo eval reads the checkpoint, and --resume is refused in one line."""
    args = ["run", "--algo", "mappo", "--env", "vmas:simple_spread", "--steps", "150", "--seed", "1", *RUN,
            "--set", "env.kwargs.max_steps=25", "--set", "algo.rollout_length=25", "--run-dir", str(tmp_path)]
    assert cli(*args, "--run-id", "a").returncode == 0
    assert cli(*args, "--run-id", "b").returncode == 0
    rows = read_metrics(tmp_path / "a")
    assert rows[-1]["env_steps"] >= 150 and np.isfinite(rows[-1]["test/return_mean"])
    assert (tmp_path / "a" / "metrics.jsonl").read_bytes() == (tmp_path / "b" / "metrics.jsonl").read_bytes()
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert (info["env_id"], info["env_package"], info["status"]) == ("vmas:simple_spread", "vmas", "finished")
    result = cli("eval", "--run", str(tmp_path / "a"), "--episodes", "3")
    assert result.returncode == 0 and "over 3 greedy episodes" in result.stdout
    assert_one_line_error(cli("run", "--resume", str(tmp_path / "a"), "--steps", "300"),
                          "cannot be resumed exactly", "VMAS")
    assert cli("run", "--algo", "qmix", "--env", "vmas:balance", "--steps", "100", *FAST,
               "--set", "env.kwargs.max_steps=10", "--run-dir", str(tmp_path), "--run-id", "q").returncode == 0
    assert read_metrics(tmp_path / "q")[-1]["env_steps"] >= 100


@pytest.mark.parametrize("extra,fragments", [
    (["--env", "vmas:navigaton"], ["no scenario 'navigaton'", "did you mean 'vmas:navigation'"]),
    (["--env", "vmas:navigation", "--set", "env.kwargs.n_agent=2"], ["does not use env.kwargs {'n_agent': 2}"]),
    (["--env", "vmas:navigation", "--set", "env.kwargs.n_agents=x"], ["rejected its kwargs"]),
    (["--env", "vmas:navigation", "--set", "env.kwargs.num_envs=4"], ["num_envs is set by marlzoo's VMAS backend"]),
    (["--env", "vmas:navigation", "--set", "env.kwargs.max_steps=0"], ["max_steps must be a positive integer"]),
    (["--env", "vmas:navigation", "--set", "env.backend=vectorised"], ["always runs on VMAS"]),
    (["--env", "vmas:navigation", "--set", "env.n_workers=2"], ["env.n_workers is for env.backend=pettingzoo"]),
    (["--env", "vmas:navigation", "--set", "env.state=env"], ["no global state"]),
], ids=["scenario", "unused-kwarg", "bad-kwarg", "reserved-kwarg", "max-steps", "backend", "workers", "state"])
def test_bad_input_is_one_line(cli, tmp_path, extra, fragments):
    result = cli("run", "--algo", "qmix", "--steps", "50", *FAST, "--run-dir", str(tmp_path), *extra)
    assert_one_line_error(result, *fragments)


def test_a_vmas_name_is_never_read_as_a_module_path():
    """``vmas:make_env`` would be a callable module attribute; as a vmas: name it is no scenario."""
    from marlzoo.envs.catalogue import make_env
    from marlzoo.errors import UserError

    with pytest.raises(UserError, match="is a VMAS scenario"):
        make_env("vmas:navigation")
    with pytest.raises(UserError, match="VMAS has no scenario 'make_env'"):
        vmas_env("vmas:make_env", 2)


@pytest.mark.slow
def test_every_scenario_vmas_ships_runs_on_it():
    """Every VMAS scenario and MPE port builds, resets (seeded and not) and steps with both action
    kinds, giving one finite team reward per copy (wheel, for one, gives its rewards as [n, 1])."""
    for scenario in sorted({*vmas.scenarios, *vmas.mpe_scenarios}):
        for continuous in (False, True):
            env = vmas_env(f"vmas:{scenario}", 2, {"continuous_actions": continuous, "max_steps": 2})
            env.reset([1, None])
            rng = np.random.default_rng(0)
            for _ in range(2):
                if continuous:
                    actions = random_actions(rng, env)
                else:
                    actions = rng.integers(0, np.array(env.spec.action_sizes), (2, env.spec.n_agents))
                env.step(actions, np.ones(2, dtype=bool))
                assert env.reward.shape == (2,) and np.isfinite(env.reward).all(), scenario
            assert env.truncated.all() or env.terminated.any(), scenario
