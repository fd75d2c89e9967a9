"""``marlzoo`` on bad input: one line on stderr, exit code 2, nothing damaged.

Most cases call the CLI's ``main`` in-process (an escaping exception fails the test, so "no
traceback" is checked too); one goes through the installed console script as a user would.
"""

from __future__ import annotations


import pytest

from marlzoo.cli import main
from tests.conftest import FAST, assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A tiny finished QMIX run and a tiny finished VDN run."""
    root = tmp_path_factory.mktemp("runs")
    for algo in ("qmix", "vdn"):
        code = main(["run", "--algo", algo, "--env", "simple_spread", "--steps", "100", *FAST,
                     "--run-dir", str(root), "--run-id", algo])
        assert code == 0
    return root


def test_console_script_unknown_algorithm_suggests_closest(tmp_path):
    result = run_cli("run", "--algo", "qmixx", "--env", "simple_spread", cwd=tmp_path)
    assert_one_line_error(result, "unknown algorithm 'qmixx'", "did you mean 'qmix'")
    assert not (tmp_path / "runs").exists()


def test_unknown_env_suggests_closest(cli, tmp_path):
    result = cli("run", "--algo", "qmix", "--env", "simple_sprad", cwd=tmp_path)
    assert_one_line_error(result, "unknown env 'simple_sprad'", "did you mean 'simple_spread'")


def test_box_action_env_refused_by_qmix(cli, tmp_path):
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--set", "env.kwargs.continuous_actions=true",
                     "--wandb", "disabled", cwd=tmp_path)
    assert_one_line_error(result, "'qmix' needs discrete actions", "continuous")
    assert not (tmp_path / "runs").exists(), "a refused run must leave no directory behind"
    earlier = tmp_path / "runs" / "earlier"
    earlier.mkdir(parents=True)
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--set", "env.kwargs.continuous_actions=true",
                 "--wandb", "disabled", cwd=tmp_path)
    assert result.returncode == 2
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["earlier"], "only the refused run's own directory goes"


def test_broken_yaml(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("algo: {lr: 0.1\n")
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--config", str(bad), cwd=tmp_path)
    assert_one_line_error(result, "not valid YAML", str(bad))


def test_unknown_config_key(cli, tmp_path):
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--set", "algo.mixing_embed=8", cwd=tmp_path)
    assert_one_line_error(result, "unknown config key 'algo.mixing_embed'", "did you mean 'algo.mixing_embed_dim'")


def test_eval_of_missing_run_dir(cli, tmp_path):
    result = cli("eval", "--run", str(tmp_path / "runs" / "nope"))
    assert_one_line_error(result, "does not exist")


def test_checkpoint_from_another_algorithm(cli, two_runs):
    qmix_dir, vdn_dir = two_runs / "qmix", two_runs / "vdn"
    result = cli("eval", "--run", str(qmix_dir), "--checkpoint", str(vdn_dir / "checkpoint.pt"), "--episodes", "2")
    assert_one_line_error(result, "written by algorithm 'vdn'", "uses 'qmix'")


def test_corrupt_checkpoint(cli, two_runs, tmp_path):
    fake = tmp_path / "checkpoint.pt"
    fake.write_bytes(b"not a checkpoint")
    result = cli("eval", "--run", str(two_runs / "qmix"), "--checkpoint", str(fake), "--episodes", "2")
    assert_one_line_error(result, "not a readable marlzoo checkpoint")


def test_existing_run_is_never_overwritten(cli, two_runs):
    run_dir = two_runs / "qmix"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    result = cli("run", "--algo", "qmix", "--env", "simple_spread", "--steps", "100", *FAST,
                     "--run-dir", str(two_runs), "--run-id", "qmix")
    assert_one_line_error(result, "already exists")
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert before == after


def test_eval_prints_mean_and_std_and_json(cli, two_runs):
    import json

    result = cli("eval", "--run", str(two_runs / "qmix"), "--episodes", "5", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"return_mean", "return_std", "episodes"} and data["episodes"] == 5
    assert -200 < data["return_mean"] < 0
    text = cli("eval", "--run", str(two_runs / "qmix"), "--episodes", "3")
    assert text.returncode == 0 and "±" in text.stdout and "3 greedy episodes" in text.stdout
