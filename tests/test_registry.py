"""Algorithms are found through entry points (built-ins too) and in-process registration."""

from __future__ import annotations

import importlib.metadata

import pytest

from marlzoo import Algorithm, register_algo
from marlzoo.errors import UserError
from marlzoo.registry import algo_names, get_algo


def test_builtins_are_entry_points_of_the_marlzoo_distribution():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="marlzoo.algos")}
    for name in ("idqn", "vdn", "qmix"):
        assert points[name].dist.name == "marlzoo"
        assert issubclass(get_algo(name), Algorithm)
    assert get_algo("qmix").__name__ == "QMIX"


def test_decorator_registers_in_process():
    @register_algo("test_only_noop")
    class Noop(Algorithm):
        def act(self, obs, avail, hidden, *, explore, t_env):
            raise NotImplementedError

        def learn(self, buffer, t_env):
            return {}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    assert get_algo("test_only_noop") is Noop
    assert "test_only_noop" in algo_names()
    with pytest.raises(TypeError):
        register_algo("not_an_algo")(object)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="unknown algorithm 'qmx'; did you mean 'qmix'"):
        get_algo("qmx")


def test_cli_list_shows_algorithms_and_envs(cli_main):
    code, out, _ = cli_main("list")
    assert code == 0
    for name in ("idqn", "vdn", "qmix", "simple_spread", "simple_speaker_listener", "simple_reference"):
        assert name in out
