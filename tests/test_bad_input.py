"""Bad input a user controls gets one line on stderr and exit code 2, never a traceback, and nothing
is written outside --run-dir. Each row is a case found by probing the CLI as an adversarial user."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

BOMB = """\
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""

RUN = ["run", "--algo", "random", "--env", "simple_spread", "--steps", "50", "--wandb", "disabled", "--no-progress"]

# (what is wrong, extra CLI args ({tmp} is the test's directory), files to write first, words the line must hold)
CASES = [
    ("run id climbing out", ["--run-id", "../escaped"], {}, "holds '/'"),
    ("absolute run id", ["--run-id", "{tmp}/abs"], {}, "holds '/'"),
    ("run id with a newline", ["--run-id", "two\nlines"], {}, "holds '\\n'"),
    ("run id '..'", ["--run-id", ".."], {}, "names no directory of its own"),
    ("over-long run id", ["--run-id", "r" * 300], {}, "is 300 characters long"),
    ("run dir that is a file", ["--run-dir", "{tmp}/afile"], {"afile": "not a directory"}, "is a file, not a directory"),
    ("seed at 2**32", ["--seed", str(2**32)], {}, "from 0 to 2**32 - 1"),
    ("negative seed", ["--seed", "-1"], {}, "from 0 to 2**32 - 1"),
    ("a device this build lacks", ["--set", "device=cuda"], {}, "is not available in this torch build"),
    ("not a device at all", ["--set", "device=toaster"], {}, "must name a torch device"),
    ("a scalar where the env section belongs", ["--config", "{tmp}/scalar.yaml"], {"scalar.yaml": "env: 5\n"},
     "config key 'env' is a section of keys, not the int 5"),
    ("a scalar algo section", ["--set", "algo=3"], {}, "config key 'algo' is a section of keys"),
    ("a config file that is not text", ["--config", "{tmp}/binary.yaml"], {"binary.yaml": b"\x89PNG\r\n\x1a\n\xff\xfe"},
     "is not UTF-8 text"),
    ("an alias bomb under env.kwargs", ["--config", "{tmp}/bomb.yaml"],
     {"bomb.yaml": "env:\n  kwargs:\n" + "".join("    " + line + "\n" for line in BOMB.splitlines())},
     "expands to more than 100,000 values through YAML aliases"),
    ("an env module that fails as it is imported", ["--env", "tests.broken_env:make"], {},
     "env 'tests.broken_env:make' raised ValueError in its import of module 'tests.broken_env': a typo"),
    ("an env factory that raises", ["--env", "tests.envs_for_tests:failing_env", "--set", "env.kwargs.phase=factory"], {},
     "raised ZeroDivisionError in its factory: the factory divided by zero (set MARLZOO_TRACEBACK=1"),
    ("an env whose reset raises", ["--env", "tests.envs_for_tests:failing_env", "--set", "env.kwargs.phase=reset"], {},
     "raised KeyError in its reset (as marlzoo read its spaces): 'no such level'"),
    ("an env whose step raises", ["--env", "tests.envs_for_tests:failing_env", "--set", "env.kwargs.at=3"], {},
     "raised RuntimeError in its step (step 3 of an episode, copy 0): the physics exploded"),
    ("an alias bomb through --set", ["--set", "env.kwargs.x={" + BOMB.strip().replace("\n", ", ") + "}"], {},
     "--set env.kwargs.x expands to more than"),
    # zero, negative or non-finite sizes and rates (marlzoo/ranges.py)
    ("a zero batch size", ["--algo", "qmix", "--set", "algo.batch_size=0"], {},
     "config key 'algo.batch_size' must be at least 1, not 0 (from the command line)"),
    ("a negative replay buffer", ["--algo", "vdn", "--set", "algo.buffer_size=-5"], {}, "'algo.buffer_size' must be at least 1, not -5"),
    ("a negative learning rate", ["--algo", "mappo", "--set", "algo.lr=-1e-3"], {}, "'algo.lr' must be greater than 0, not -0.001"),
    ("a NaN learning rate", ["--algo", "qmix", "--set", "algo.lr=.nan"], {}, "'algo.lr' must be greater than 0, not nan"),
    ("a zero rollout length", ["--algo", "mappo", "--set", "algo.rollout_length=0"], {}, "'algo.rollout_length' must be at least 1"),
    ("zero epochs", ["--algo", "ippo", "--set", "algo.epochs=0"], {}, "'algo.epochs' must be at least 1, not 0"),
    ("a zero hidden size", ["--algo", "qmix", "--set", "algo.agent.hidden=0"], {}, "'algo.agent.hidden' must be at least 1"),
    ("a zero critic width", ["--algo", "maddpg", "--set", "algo.critic.hidden=0"], {}, "'algo.critic.hidden' must be at least 1"),
    ("a zero CNN channel", ["--algo", "qmix", "--set", "algo.agent.encoder.channels=[16, 0, 32]"], {},
     "'algo.agent.encoder.channels' each entry must be at least 1, not (16, 0, 32)"),
    ("a discount above 1", ["--algo", "vdn", "--set", "algo.gamma=1.5"], {}, "'algo.gamma' must be in [0, 1], not 1.5"),
    ("an epsilon below 0", ["--algo", "idqn", "--set", "algo.epsilon_finish=-0.1"], {}, "'algo.epsilon_finish' must be in [0, 1]"),
    ("an infinite epsilon", ["--algo", "qmix", "--set", "algo.epsilon_start=.inf"], {}, "'algo.epsilon_start' must be in [0, 1], not inf"),
    ("a zero target-update interval", ["--algo", "qtran", "--set", "algo.target_update_interval=0"], {},
     "'algo.target_update_interval' must be at least 1"),
    ("a NaN where no range is declared", ["--algo", "mappo", "--set", "algo.log_std_init=.nan"], {},
     "'algo.log_std_init' must be a finite number, not nan"),
    ("zero env copies", ["--set", "n_envs=0"], {}, "config key 'n_envs' must be at least 1, not 0"),
    ("zero test episodes from a config file", ["--config", "{tmp}/zero.yaml"], {"zero.yaml": "test_episodes: 0\n"},
     "config key 'test_episodes' must be at least 1, not 0 (from {tmp}/zero.yaml)"),
    ("a negative episode limit", ["--set", "env.episode_limit=-1"], {}, "'env.episode_limit' must be at least 1, not -1"),
    ("an episode limit past 64 bits", ["--set", "env.episode_limit=100000000000000000000000"], {},
     "'env.episode_limit' must fit in 64 bits"),
    ("--steps past 64 bits", ["--steps", "1" + "0" * 30], {}, "config key 'steps' must fit in 64 bits"),
    ("a hundred thousand torch threads", ["--set", "torch_threads=100000"], {}, "'torch_threads' must be in [1, 1024]"),
    ("a replay buffer of 60 TB", ["--algo", "qmix", "--set", "algo.buffer_size=100000000000"], {},
     "could not allocate 60,000.0 GB; make the replay buffer (algo.buffer_size)"),
    ("a zero W&B timeout", ["--set", "wandb.init_timeout=0"], {}, "'wandb.init_timeout' must be greater than 0"),
    # other commands: the case's arguments start with the command
    ("reproduce: a hundred million seeds (would hang)", ["reproduce", "{tmp}/t.yaml", "--dry-run"],
     {"t.yaml": "{algos: [random], envs: [simple_spread], seeds: 100000000, steps: 50}"},
     "'seeds' must be a count from 1 to 10,000, not 100000000"),
    ("reproduce: a seed past numpy's range", ["reproduce", "{tmp}/t.yaml", "--dry-run"],
     {"t.yaml": "{algos: [random], envs: [simple_spread], seeds: [4294967296], steps: 50}"},
     "'seeds' must be a count or a list of integers from 0 to 2**32 - 1"),
    ("reproduce: a spec that is not text", ["reproduce", "{tmp}/t.yaml", "--dry-run"], {"t.yaml": b"\xff\xfe\x00"},
     "is not UTF-8 text"),
    ("reproduce: an empty spec", ["reproduce", "{tmp}/t.yaml", "--dry-run"], {"t.yaml": ""}, "config key 'algos' is missing"),
    ("reproduce: a zero learning rate in a table", ["reproduce", "{tmp}/t.yaml", "--dry-run"],
     {"t.yaml": "{algos: [{name: vdn, overrides: {algo: {lr: 0}}}], envs: [simple_spread], seeds: 1, steps: 50}"},
     "'algo.lr' must be greater than 0, not 0.0 (from {tmp}/t.yaml algos[vdn].overrides)"),
    ("reproduce: zero workers", ["reproduce", "{tmp}/t.yaml", "--workers", "0", "--dry-run"],
     {"t.yaml": "{algos: [random], envs: [simple_spread], seeds: 1, steps: 50}"}, "--workers must be at least 1, not 0"),
    ("reproduce: --out is a file", ["reproduce", "{tmp}/t.yaml", "--out", "{tmp}/t.yaml"],
     {"t.yaml": "{algos: [random], envs: [simple_spread], seeds: 1, steps: 50}"},
     "cannot write {tmp}/t.yaml/runs/t: Not a directory; pass a writable --out"),
    ("compare: metrics that are not text", ["compare", "{tmp}/r"], {"r/metrics.jsonl": b"\xff\xfe", "r/config.yaml": "seed: 0\n"},
     "r/metrics.jsonl is not UTF-8 text"),
    ("compare: NaN in metrics", ["compare", "{tmp}/r"],
     {"r/metrics.jsonl": '{"env_steps": NaN, "test/return_mean": 1.0}\n', "r/config.yaml": "seed: 0\n"},
     "line 1: env_steps and test/return_mean must be finite numbers, not nan and 1.0"),
    ("plot: a config that is not text", ["plot", "{tmp}/r", "--out", "{tmp}/x.png"],
     {"r/metrics.jsonl": '{"env_steps": 5, "test/return_mean": 1.0}\n', "r/config.yaml": b"\xff"},
     "r/config.yaml is not UTF-8 text"),
    ("eval: zero episodes", ["eval", "--run", "{tmp}", "--episodes", "0"], {}, "--episodes must be at least 1, not 0"),
    ("eval: a negative seed", ["eval", "--run", "{tmp}", "--seed", "-1"], {}, "--seed must be an integer from 0 to 2**32 - 1"),
]
COMMANDS = ("reproduce", "compare", "plot", "eval")


@pytest.mark.parametrize("what, args, files, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, cli, what, args, files, expected):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    runs = tmp_path / "runs"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] not in COMMANDS:
        args = [*RUN, *args] if "--run-dir" in args else [*RUN, "--run-dir", str(runs), *args]
    if "alias bomb" in what or "would hang" in what:  # a new interpreter with a timeout, in case it does
        result = subprocess.run([sys.executable, "-m", "marlzoo.cli", *args], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
    else:
        result = cli(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("marlzoo: error: "), result.stderr
    assert expected.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert not runs.exists() or not any(runs.iterdir()), "a refused run leaves nothing behind"


def test_the_traceback_variable_prints_the_env_codes_own_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "marlzoo.cli", *RUN, "--env", "tests.envs_for_tests:failing_env",
                             "--run-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={**os.environ, "MARLZOO_TRACEBACK": "1", "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert "Traceback" in result.stderr and 'raise RuntimeError("the physics exploded")' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("marlzoo: error: env 'tests.envs_for_tests:failing_env'")


def test_a_plugin_config_declares_its_own_ranges_in_field_metadata():
    from dataclasses import dataclass, field

    from marlzoo import register_algo
    from marlzoo.algos.random_play import RandomPlay
    from marlzoo.config import load_config
    from marlzoo.errors import UserError
    from marlzoo.ranges import RANGE, Range

    @dataclass
    class Config:
        temperature: float = field(default=0.5, metadata={RANGE: Range(0, 1, low_open=True)})  # a key of its own
        gamma: float = field(default=0.99, metadata={RANGE: Range(0, 2)})  # a common key, allowed wider here
        lr: float = 1e-3  # a common key with the common range

    register_algo("test_only_ranged")(type("Ranged", (RandomPlay,), {"Config": Config}))
    load = lambda *sets: load_config("test_only_ranged", "simple_spread", sets=list(sets))  # noqa: E731
    with pytest.raises(UserError, match=r"'algo.temperature' must be in \(0, 1\], not 0.0"):
        load("algo.temperature=0")
    with pytest.raises(UserError, match=r"'algo.lr' must be greater than 0, not 0.0"):
        load("algo.lr=0")
    assert load("algo.gamma=1.5", "algo.temperature=1").algo.gamma == 1.5
    with pytest.raises(UserError, match=r"'algo.gamma' must be in \[0, 2\]"):
        load("algo.gamma=2.5")
