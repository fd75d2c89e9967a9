"""Config layering, validation into typed objects, and errors that name the key and its file."""

from __future__ import annotations

import pytest

from marlzoo.config import config_from_file, dump_config, load_config, parse_set
from marlzoo.errors import UserError


def test_defaults_resolve_into_typed_objects():
    cfg = load_config("qmix", "simple_spread")
    assert cfg.algo_name == "qmix" and cfg.env.name == "simple_spread"
    assert cfg.algo.batch_size == 32 and cfg.algo.buffer_size == 5000 and cfg.algo.agent.hidden == 64
    assert cfg.algo.mixing_embed_dim == 32
    assert cfg.env.kwargs["N"] == 3  # from configs/envs/simple_spread.yaml


def test_layer_order_later_wins(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("steps: 777\nalgo:\n  lr: 0.01\n  agent:\n    hidden: 32\nenv:\n  kwargs:\n    N: 4\n")
    cfg = load_config("vdn", "simple_spread", config_file=user, sets=["algo.lr=0.02"], seed=5)
    assert cfg.steps == 777  # user file over default.yaml
    assert cfg.algo.lr == 0.02  # command line over user file
    assert cfg.algo.agent.hidden == 32 and cfg.algo.agent.kind == "mlp"  # nested keys merge
    assert cfg.env.kwargs == {"N": 4, "local_ratio": 0.5, "max_cycles": 25, "continuous_actions": False}
    assert cfg.seed == 5


def test_set_values_are_read_as_yaml():
    assert parse_set("env.kwargs.N=4") == {"env": {"kwargs": {"N": 4}}}
    assert parse_set("algo.double_q=false") == {"algo": {"double_q": False}}
    assert parse_set("wandb.group=abc") == {"wandb": {"group": "abc"}}
    with pytest.raises(UserError, match="key=value"):
        parse_set("algo.lr")


def test_unknown_key_names_key_file_and_suggestion(tmp_path):
    user = tmp_path / "typo.yaml"
    user.write_text("algo:\n  learning_rat: 0.1\n")
    with pytest.raises(UserError) as err:
        load_config("qmix", "simple_spread", config_file=user)
    msg = str(err.value)
    assert "'algo.learning_rat'" in msg and str(user) in msg
    with pytest.raises(UserError, match=r"'algo.lrr' \(from the command line\); did you mean 'algo.lr'"):
        load_config("qmix", "simple_spread", sets=["algo.lrr=1"])
    with pytest.raises(UserError, match=r"unknown config key 'stepz'.*did you mean 'steps'"):
        load_config("qmix", "simple_spread", sets=["stepz=1"])


def test_wrong_type_names_key_and_file(tmp_path):
    user = tmp_path / "bad.yaml"
    user.write_text("algo:\n  batch_size: lots\n")
    with pytest.raises(UserError, match=rf"'algo.batch_size' must be int, not str 'lots' \(from {user}\)"):
        load_config("qmix", "simple_spread", config_file=user)
    with pytest.raises(UserError, match="'env.reward_aggregation' must be one of"):
        load_config("qmix", "simple_spread", sets=["env.reward_aggregation=max"])
    with pytest.raises(UserError, match="'steps' must be at least 1"):
        load_config("qmix", "simple_spread", steps=0)


def test_broken_yaml_is_one_clear_error(tmp_path):
    user = tmp_path / "broken.yaml"
    user.write_text("algo:\n  lr: [0.1\n")
    with pytest.raises(UserError, match=r"not valid YAML at line \d+"):
        load_config("qmix", "simple_spread", config_file=user)
    with pytest.raises(UserError, match="cannot read config file"):
        load_config("qmix", "simple_spread", config_file=tmp_path / "missing.yaml")


def test_yaml_is_safe_loaded(tmp_path):
    user = tmp_path / "evil.yaml"
    user.write_text("steps: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config("qmix", "simple_spread", config_file=user)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config("qmix", "simple_spread", sets=["algo.lr=0.003", "env.kwargs.N=4"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg))
    again = config_from_file(path)
    assert again == cfg


def test_algo_layer_then_env_layer():
    assert load_config("qmix", "simple_spread").algo.lr == 5e-4  # the Q-learning core's default
    assert load_config("vdn", "simple_spread").algo.lr == 1e-3  # configs/algos/vdn.yaml
    assert load_config("vdn", "penalty").algo.lr == 0.01  # configs/envs/penalty.yaml, later, wins


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A copy of configs/ that a test may edit, in place of the repository's."""
    import shutil

    import marlzoo.config

    copy = tmp_path / "configs"
    shutil.copytree(marlzoo.config.CONFIG_DIR, copy)
    monkeypatch.setattr(marlzoo.config, "CONFIG_DIR", copy)
    return copy


def test_env_layer_algo_keys_apply_where_they_exist_and_typos_are_errors(config_dir):
    env_file = config_dir / "envs" / "simple_spread.yaml"
    original = env_file.read_text()
    env_file.write_text(original + "algo:\n  buffer_size: 700\n  alpha: 0.3\n")  # alpha: IQL's only
    assert load_config("qmix", "simple_spread").algo.buffer_size == 700
    assert load_config("iql", "simple_spread").algo.alpha == 0.3
    env_file.write_text(original + "algo:\n  bufer_size: 700\n")
    with pytest.raises(UserError, match=r"'algo.bufer_size' \(from configs/envs/simple_spread.yaml\).*'algo.buffer_size'"):
        load_config("qmix", "simple_spread")


def test_invalid_value_names_where_it_was_set():
    with pytest.raises(UserError, match=r"'algo.agent' \(its keys set in the command line\).*'mlp' or 'gru', not 'lstm'"):
        load_config("qmix", "simple_spread", sets=["algo.agent.kind=lstm"])
