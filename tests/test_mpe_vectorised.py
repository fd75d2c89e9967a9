"""The vectorised MPE backend (``env.backend=vectorised``): exact to mpe2 through marlzoo's adapter,
chosen by one config key, refusing in one line what it does not cover, and trained on unchanged."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch
import pytest

from benchmarks.mpe_exactness import TASKS, Result, compare, settings
from marlzoo.config import load_config
from marlzoo.envs.catalogue import make_env
from marlzoo.envs.mpe import MPEVectorEnv
from marlzoo.training.trainer import backend_of, make_vector_env
from tests.conftest import FAST, assert_one_line_error

RUN = FAST[:-2]  # without algo.batch_size, which MAPPO does not have
EPISODES = 20  # per task and action kind here; benchmarks/mpe_exactness.py runs 500 and more


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("task", TASKS)
def test_random_episodes_match_mpe2_step_for_step(task, continuous):
    """Same seeds, same random actions (clipped ones too), copies stepped and reset at random times,
    over every kwarg and env option the backend takes: every array after every step and reset is
    mpe2's to 1e-5 (in practice to the bit)."""
    group = settings(task, continuous)
    total = Result()
    for k, setting in enumerate(group):
        total.add(compare(setting, EPISODES // len(group) + 1, copies=4, seed=k))
    assert total.mismatches == []
    assert total.episodes >= EPISODES and total.max_diff <= 1e-5


def test_a_changed_constant_is_caught():
    """The comparison can fail: a world whose damping differs in the 7th digit is told apart."""
    import marlzoo.envs.mpe.world as world

    setting = settings("simple_spread", False)[0]
    original = world.DAMPING
    try:
        world.DAMPING = original * (1 + 1e-3)
        assert compare(setting, 4, copies=2).mismatches
    finally:
        world.DAMPING = original


@pytest.mark.parametrize("state", ["auto", "concat_obs"])
@pytest.mark.parametrize("task", TASKS)
def test_its_spec_is_the_adapters_with_a_note_on_the_backend(task, state):
    for continuous in (False, True):
        kwargs = {"continuous_actions": continuous}
        ours = MPEVectorEnv(task, 2, kwargs, state=state).spec
        theirs = make_env(task, kwargs, state=state).spec
        assert dataclasses.replace(ours, transforms=()) == theirs
        assert "vectorised" in ours.transforms[0]


def test_the_backend_key_picks_the_batched_env():
    config = load_config("qmix", "simple_spread", sets=["wandb.mode=disabled"])
    assert config.env.backend == "auto" and backend_of(config.env) == "vectorised"
    assert isinstance(make_vector_env(config, 2), MPEVectorEnv)
    for env, sets in (("simple_spread", ["env.backend=pettingzoo"]), ("multiwalker", []),
                      ("simple_spread", ["env.kwargs.curriculum=true"]), ("simple_spread", ["env.n_workers=2"])):
        other = load_config("mappo", env, sets=["wandb.mode=disabled", *sets])
        assert backend_of(other.env) == "pettingzoo", (env, sets)
    fast = load_config("qmix", "simple_speaker_listener", sets=["wandb.mode=disabled", "env.backend=vectorised"])
    venv = make_vector_env(fast, 3)
    assert isinstance(venv, MPEVectorEnv) and venv.n == 3
    venv.reset([0, 1, 2])
    assert venv.obs.shape == (3, 2, 11) and venv.alive.all()


@pytest.mark.parametrize("sets, fragments", [
    (["env.kwargs.curriculum=true"], ["env.kwargs.curriculum", "env.backend=vectorised", "env.backend=pettingzoo"]),
    (["env.kwargs.num_agent_neighbors=2"], ["num_agent_neighbors", "env.backend=pettingzoo"]),
    (["env.kwargs.speed=2"], ["'speed'", "N, continuous_actions"]),
    (["env.kwargs.local_ratio=1.5"], ["local_ratio", "from 0 to 1"]),
])
def test_what_it_does_not_take_is_refused_in_one_line(cli, tmp_path, sets, fragments):
    args = [a for s in ["env.backend=vectorised", *sets] for a in ("--set", s)]
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--steps", "100", *FAST, *args,
                 "--run-dir", str(tmp_path))
    assert_one_line_error(result, *fragments)


def test_an_env_it_does_not_cover_is_refused_in_one_line(cli, tmp_path):
    result = cli("run", "--algo", "mappo", "--env", "multiwalker", "--steps", "100", *RUN,
                 "--set", "env.backend=vectorised", "--run-dir", str(tmp_path))
    assert_one_line_error(result, "env.backend=vectorised", "'multiwalker'", "env.backend=pettingzoo")


@pytest.mark.parametrize("algo, env, extra", [
    ("qmix", "simple_spread", FAST), ("mappo", "simple_spread", RUN), ("happo", "simple_speaker_listener", RUN),
    ("maddpg", "simple_spread", [*FAST, "--set", "env.kwargs.continuous_actions=true"]),
])
def test_training_on_it_is_training_on_mpe2(cli, tmp_path, algo, env, extra):
    """A short run trains on the vectorised backend, and writes the metrics.jsonl, to the byte, of the
    same run on mpe2: the envs agree, so every sample, update and evaluation does. (This is why
    ``env.backend`` stays out of the cache key, and why ``auto`` may pick either.)"""
    files = {}
    for backend in ("pettingzoo", "vectorised"):
        result = cli("run", "--algo", algo, "--env", env, "--steps", "300", *extra,
                     "--set", f"env.backend={backend}", "--run-dir", str(tmp_path), "--run-id", backend)
        assert result.returncode == 0, result.stderr
        files[backend] = (tmp_path / backend / "metrics.jsonl").read_bytes()
    assert b"test/return_mean" in files["vectorised"] and b"loss/" in files["vectorised"]
    assert files["vectorised"] == files["pettingzoo"]


def test_a_policy_trained_on_one_backend_plays_the_same_on_the_other(cli, tmp_path):
    """``marlzoo eval --set env.backend=...``: the run trained on the default (``auto``: vectorised
    here) and its checkpoint played on mpe2 give the same greedy returns, episode for episode."""
    assert cli("run", "--algo", "mappo", "--env", "simple_spread", "--steps", "300", *RUN, "--run-dir", str(tmp_path),
               "--run-id", "r").returncode == 0
    run = tmp_path / "r"
    assert json.loads((run / "run.json").read_text())["backend"] == "vectorised"
    played = {}
    for backend in ("vectorised", "pettingzoo"):
        result = cli("eval", "--run", str(run), "--episodes", "12", "--json", "--set", f"env.backend={backend}")
        assert result.returncode == 0, result.stderr
        played[backend] = json.loads(result.stdout)
    assert played["vectorised"] == played["pettingzoo"] and played["pettingzoo"]["episodes"] == 12
    other = json.loads(cli("eval", "--run", str(run), "--episodes", "12", "--json", "--seed", "1").stdout)
    assert other["return_mean"] != played["pettingzoo"]["return_mean"]  # the comparison can fail
    assert_one_line_error(cli("eval", "--run", str(run), "--set", "env.bakend=pettingzoo"), "env.bakend")


def test_a_nan_action_stops_the_run_with_one_line():
    from marlzoo.errors import NonFiniteError

    env = MPEVectorEnv("simple_spread", 2, {"continuous_actions": True})
    env.reset([0, 1])
    actions = np.full((2, 3, 5), 0.5, dtype=np.float32)
    actions[1, 2, 2] = np.nan
    with pytest.raises(NonFiniteError, match="copy 1"):
        env.step(actions, np.ones(2, dtype=bool))


@pytest.mark.parametrize("task", TASKS)
def test_an_unseeded_first_reset_draws_what_mpe2_draws_after_marlzoo_read_its_state(task):
    """With env.state=auto, marlzoo's adapter resets mpe2's env with seed 0 once, to read its state:
    a first reset without a seed continues that stream, on both backends."""
    from marlzoo.envs.vector import VectorEnv

    ours = MPEVectorEnv(task, 2, {}, state="auto")
    theirs = VectorEnv(lambda: make_env(task, {}, state="auto"), 2)
    ours.reset([None, None])
    theirs.reset([None, None])
    np.testing.assert_array_equal(ours.obs, theirs.obs)
    np.testing.assert_array_equal(ours.state, theirs.state)


@pytest.mark.parametrize("task", ["simple_spread", "simple_speaker_listener"])
def test_a_checkpointed_env_continues_exactly_where_it_was_saved(task):
    """state_dict / load_state_dict carry the worlds, counters and generators: a fresh env loaded from
    a copy saved mid-episode steps and resets (unseeded) exactly as the original does."""
    from marlzoo.envs.mpe import vectorised_env

    rng = np.random.default_rng(0)
    original = vectorised_env(task, 3)
    original.reset([1, 2, 3])
    spec = original.spec
    sizes = original.avail[0].sum(-1)  # speaker_listener's agents have 3 and 5 actions
    act = lambda: rng.integers(0, sizes, size=(3, spec.n_agents))  # noqa: E731
    for _ in range(7):
        original.step(act(), np.ones(3, dtype=bool))
    saved = torch.load(_roundtrip(original.state_dict()), weights_only=True)
    restored = vectorised_env(task, 3)
    restored.load_state_dict(saved)
    for t in range(30):  # past the 25-step limit: the finished copies reset on their own streams
        actions = act()
        done = original.terminated | original.truncated
        for env in (original, restored):
            env.reset_where(done)  # often no copy: the contract allows an empty mask
            env.step(actions, np.ones(3, dtype=bool))
        for name in ("obs", "state", "reward", "terminated", "truncated"):
            assert np.array_equal(getattr(original, name), getattr(restored, name)), (t, name)
    with pytest.raises(ValueError, match="do not fit"):
        vectorised_env(task, 2).load_state_dict(saved)


def _roundtrip(state):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_batched_evaluation_plays_the_rounds_episode_runner_plays():
    """All the rounds of an evaluation on one batch of copies give, evaluation after evaluation, the
    returns EpisodeRunner gives playing them round by round (the greedy policy of a fresh MAPPO), and
    the trainer picks it only on the vectorised backend."""
    from marlzoo.training.runner import BatchedEvaluation, EpisodeRunner
    from marlzoo.training.trainer import build_algorithm, make_evaluation

    config = load_config("mappo", "simple_spread", sets=["env.backend=vectorised", "n_envs=3", "test_episodes=7"])
    venv, evaluation = make_evaluation(config, seed=5)
    assert isinstance(evaluation, BatchedEvaluation) and venv.n == 9  # 3 rounds of 3 copies
    rounds = EpisodeRunner(make_vector_env(config, 3), seed=5)
    algo = build_algorithm(config, venv.spec)
    for _ in range(2):  # the second evaluation continues each copy's own stream
        batched, sequential = evaluation.evaluate(algo, 7), rounds.evaluate(algo, 7)
        assert len(batched) == 7 and len(set(batched.tolist())) == 7
        np.testing.assert_array_equal(batched, sequential)
    petting = dataclasses.replace(config, env=dataclasses.replace(config.env, backend="pettingzoo"))
    venv_p, evaluation_p = make_evaluation(petting, seed=5)
    assert isinstance(evaluation_p, EpisodeRunner) and venv_p.n == 3
    venv_p.close()
