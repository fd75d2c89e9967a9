"""Subprocess workers (``env.n_workers``): the same arrays as the in-process VectorEnv, errors and
dead workers in one line, and a close() that returns."""

from __future__ import annotations

import functools
import os
import signal
import time

import numpy as np
import pytest

from conftest import FAST, assert_one_line_error
from marlzoo.config import load_config
from marlzoo.envs.catalogue import make_env
from marlzoo.envs.subproc import SubprocVectorEnv, WorkerDiedError
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import EnvCodeError, NonFiniteError, UserError
from marlzoo.training.trainer import make_vector_env

ARRAYS = ("obs", "state", "avail", "alive", "reward", "terminated", "truncated")
RUN = FAST[:-2]  # without algo.batch_size, which MAPPO does not have


def _pair(name: str, n: int, workers: int = 2, **options):
    factory = functools.partial(make_env, name, options.pop("kwargs", {}), options.pop("episode_limit", None))
    return VectorEnv(factory, n, **options), SubprocVectorEnv(factory, n, workers, **options)


def _assert_same(a, b, where):
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), (where, name)


@pytest.mark.parametrize("time_limit", ["truncate", "terminate"])
def test_the_same_seeds_give_the_arrays_of_the_in_process_env(time_limit):
    """Random actions on a random subset of copies, per-copy resets with and without seeds: every
    array, after every call, equals VectorEnv's (5 copies in 2 workers of 3 and 2)."""
    theirs, ours = _pair("simple_spread", 5, kwargs={"max_cycles": 10}, episode_limit=10, time_limit=time_limit)
    rng = np.random.default_rng(1)
    try:
        assert ours.blocks == [(0, 3), (3, 5)]
        for env in (theirs, ours):
            env.reset([7, None, 9, 10, 11])
        _assert_same(theirs, ours, "reset")
        ended, cut = 0, 0
        for t in range(40):
            actions, active = rng.integers(0, 5, size=(5, 3)), rng.random(5) < 0.7
            for env in (theirs, ours):
                env.step(actions, active)
            _assert_same(theirs, ours, f"step {t}")
            done = theirs.terminated | theirs.truncated
            if done.any():
                ended += int(done.sum())
                cut += int(ours.truncated.sum())
                seeds = [int(s) if rng.random() < 0.5 else None for s in rng.integers(0, 100, size=5)]
                for env in (theirs, ours):
                    env.reset_where(done, seeds)
                _assert_same(theirs, ours, f"reset_where {t}")
        assert ended > 5 and (cut == 0 if time_limit == "terminate" else cut == ended)  # the rule applied
    finally:
        theirs.close()
        ours.close()
    ours.close()  # a second close does nothing


def test_continuous_actions_reach_the_workers_as_they_were_given():
    theirs, ours = _pair("simple_spread", 3, kwargs={"continuous_actions": True})
    rng = np.random.default_rng(2)
    try:
        for env in (theirs, ours):
            env.reset([0, 1, 2])
        for dtype in (np.float32, np.float64, np.float32):  # each dtype change gets a new action buffer
            actions = rng.random((3, 3, 5)).astype(dtype)
            for env in (theirs, ours):
                env.step(actions, np.ones(3, dtype=bool))
            _assert_same(theirs, ours, dtype)
    finally:
        theirs.close()
        ours.close()


def test_the_config_key_picks_the_workers_and_refuses_what_it_cannot_do():
    config = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled", "env.n_workers=2"])
    venv = make_vector_env(config, 1)
    try:  # one copy: one worker
        assert isinstance(venv, SubprocVectorEnv) and venv.blocks == [(0, 1)]
        with pytest.raises(UserError, match="env.n_workers=0"):
            venv.envs
    finally:
        venv.close()
    assert isinstance(make_vector_env(load_config("mappo", "simple_spread", sets=["env.n_workers=1", "env.backend=pettingzoo"]), 1), VectorEnv)
    for sets, fragment in ((["env.n_workers=-1"], "env.n_workers must be"),
                           (["env.n_workers=2", "env.backend=vectorised"], "env.backend=pettingzoo")):
        with pytest.raises(UserError, match=fragment):
            make_vector_env(load_config("mappo", "simple_spread", sets=sets), 2)


class Boom(RuntimeError):
    pass


class _Exploding:
    """An adapter whose ``step`` raises at a given episode step, or returns a NaN reward."""

    def __init__(self, inner, at: int, nan: bool):
        self.inner, self.at, self.nan = inner, at, nan

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, actions):
        reward, terminated, truncated = self.inner.step(actions)
        if self.inner.t == self.at:
            if self.nan:
                return float("nan"), terminated, truncated
            raise Boom("the walker broke")
        return reward, terminated, truncated


def exploding_env(at: int, nan: bool = False):
    return _Exploding(make_env("simple_spread"), at, nan)


def test_an_error_in_env_code_is_the_in_process_one_line():
    """The worker's exception becomes VectorEnv's EnvCodeError, naming env, phase, step and copy."""
    messages = []
    for cls in (VectorEnv, SubprocVectorEnv):
        env = cls(functools.partial(exploding_env, 3), 4, *([2] if cls is SubprocVectorEnv else []))
        try:
            env.reset([0, 1, 2, 3])
            active = np.array([False, False, True, True])
            for _ in range(2):
                env.step(np.zeros((4, 3), dtype=np.int64), active)
            with pytest.raises(EnvCodeError) as raised:
                env.step(np.zeros((4, 3), dtype=np.int64), active)
            messages.append(str(raised.value))
        finally:
            env.close()
    assert messages[0] == messages[1]
    assert "'simple_spread' raised Boom in its step (step " in messages[1] and ", copy 2): the walker broke" in messages[1]


def test_a_non_finite_reward_stops_it_as_in_process():
    env = SubprocVectorEnv(functools.partial(exploding_env, 2, True), 2, 2)
    try:
        env.reset([0, 1])
        env.step(np.zeros((2, 3), dtype=np.int64), np.ones(2, dtype=bool))
        with pytest.raises(NonFiniteError, match=r"reward nan at step 2 of an episode \(copy 0\)"):
            env.step(np.zeros((2, 3), dtype=np.int64), np.ones(2, dtype=bool))
    finally:
        env.close()


def test_a_worker_that_dies_is_one_line_not_a_hang():
    env = SubprocVectorEnv(functools.partial(make_env, "simple_spread"), 4, 2)
    try:
        env.reset([0, 1, 2, 3])
        os.kill(env._procs[1].pid, signal.SIGKILL)
        with pytest.raises(WorkerDiedError, match=r"worker process 1 \(copies 2-3\) was killed by SIGKILL during step"):
            env.step(np.zeros((4, 3), dtype=np.int64), np.ones(4, dtype=bool))
    finally:
        start = time.monotonic()
        env.close()
    assert not any(p.is_alive() for p in env._procs)
    assert time.monotonic() - start < 30  # a bound on a hang, not a timing claim


def test_a_factory_that_fails_in_the_workers_is_one_line(cli, tmp_path):
    result = cli("run", "--algo", "mappo", "--env", "simple_spread", "--steps", "40", *RUN,
                 "--set", "env.n_workers=2", "--set", "env.kwargs.no_such_kwarg=1", "--run-dir", str(tmp_path))
    assert_one_line_error(result, "'simple_spread' rejected its kwargs", "no_such_kwarg")


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "env", "steps", "extra"), [
    ("mappo", "multiwalker", "400", RUN),
    ("qmix", "simple_spread", "300", FAST),
])
def test_training_in_workers_writes_the_in_process_metrics(cli, tmp_path, algo, env, steps, extra):
    """A short run with two workers writes the metrics.jsonl, to the byte, of the same run in one
    process: every sample, update and evaluation is the same."""
    files = {}
    for workers in (0, 2):
        result = cli("run", "--algo", algo, "--env", env, "--steps", steps, *extra, "--set", "test_interval=200",
                     "--set", f"env.n_workers={workers}", "--run-dir", str(tmp_path), "--run-id", f"w{workers}")
        assert result.returncode == 0, result.stderr
        files[workers] = (tmp_path / f"w{workers}" / "metrics.jsonl").read_bytes()
    assert b"test/return_mean" in files[2] and b"loss/" in files[2]
    assert files[2] == files[0]
