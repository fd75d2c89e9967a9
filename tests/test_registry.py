"""Algorithms are found through entry points (built-ins too) and in-process registration."""

from __future__ import annotations

import importlib.metadata

import pytest

from marlzoo import Algorithm, ReplayAlgorithm, RolloutAlgorithm, register_algo
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
    class Noop(ReplayAlgorithm):
        def act(self, obs, avail, hidden, *, explore, t_env):
            raise NotImplementedError

        def update(self, batch, t_env):
            return {}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    assert get_algo("test_only_noop") is Noop
    assert "test_only_noop" in algo_names()
    with pytest.raises(UserError, match="is not a subclass of marlzoo.ReplayAlgorithm or marlzoo.RolloutAlgorithm"):
        register_algo("not_an_algo")(object)


@pytest.mark.parametrize("base, missing", [(ReplayAlgorithm, "update"), (RolloutAlgorithm, "rollout_step, value")])
def test_a_class_missing_a_hook_is_refused_at_registration_naming_it(base, missing):
    class Partial(base):
        def act(self, obs, avail, hidden, *, explore, t_env):
            raise NotImplementedError

        def learn(self, buffer, t_env, *n_updates):
            return {}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    if base is ReplayAlgorithm:
        del Partial.learn  # the base's learn is fine; update is what it lacks
    with pytest.raises(UserError) as err:
        register_algo("test_only_partial")(Partial)
    message = str(err.value)
    assert "\n" not in message and f"does not implement {missing}, which marlzoo.{base.__name__} requires" in message
    assert "test_only_partial" not in algo_names()


def test_decorated_algorithm_trains_and_evaluates_in_process(tmp_path):
    import marlzoo
    from marlzoo.algos.vdn import VDN
    from marlzoo.training.evaluate import evaluate_run

    @register_algo("test_only_notebook_vdn")
    class NotebookVDN(VDN):
        pass

    info = marlzoo.train("test_only_notebook_vdn", "simple_spread", steps=400, progress=False, run_dir=tmp_path,
                         run_id="nb", sets=["wandb.mode=disabled", "test_interval=400", "test_episodes=2"])
    assert info["status"] == "finished" and info["env_steps"] == 400 and info["algo"] == "test_only_notebook_vdn"
    assert info["run_dir"] == str(tmp_path / "nb") and (tmp_path / "nb" / "checkpoint.pt").is_file()
    assert "test/return_mean" in info["final_metrics"]
    assert len(evaluate_run(info["run_dir"], 3)) == 3  # a str, as train returns it


def test_train_refuses_bad_input_and_leaves_nothing(tmp_path):
    import marlzoo

    with pytest.raises(UserError, match="unknown algorithm"):
        marlzoo.train("qmixx", "simple_spread", run_dir=tmp_path / "runs")
    with pytest.raises(UserError, match="needs discrete actions"):
        marlzoo.train("qmix", "simple_spread", run_dir=tmp_path / "a" / "b" / "runs",
                      sets="env.kwargs.continuous_actions=true")  # one override may be a plain string
    assert not (tmp_path / "runs").exists() and not (tmp_path / "a").exists()


def test_a_run_whose_wandb_cannot_start_leaves_nothing(tmp_path, monkeypatch):
    import marlzoo
    import marlzoo.training.trainer

    def refuse(*args, **kwargs):
        raise UserError("wandb could not start (test); rerun with --wandb disabled")

    monkeypatch.setattr(marlzoo.training.trainer, "WandbSink", refuse)
    (tmp_path / "runs").mkdir()
    with pytest.raises(UserError, match="wandb could not start"):
        marlzoo.train("vdn", "simple_spread", steps=200, run_dir=tmp_path / "runs", run_id="x", wandb="offline",
                      progress=False)
    assert list((tmp_path / "runs").iterdir()) == [], "the failed run's directory is gone, so its run id is free again"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="unknown algorithm 'qmx'; did you mean 'qmix'"):
        get_algo("qmx")


def test_cli_list_shows_algorithms_and_envs(cli_main):
    code, out, _ = cli_main("list")
    assert code == 0
    for name in ("idqn", "vdn", "qmix", "simple_spread", "simple_speaker_listener", "simple_reference"):
        assert name in out
