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
]


@pytest.mark.parametrize("what, args, files, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, cli, what, args, files, expected):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    runs = tmp_path / "runs"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--run-dir" not in args:
        args = ["--run-dir", str(runs), *args]
    if "alias bomb" in what:  # a new interpreter with a timeout: were the bomb expanded, this would hang
        result = subprocess.run([sys.executable, "-m", "marlzoo.cli", *RUN, *args], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
    else:
        result = cli(*RUN, *args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("marlzoo: error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert not runs.exists() or not any(runs.iterdir()), "a refused run leaves nothing behind"


def test_the_traceback_variable_prints_the_env_codes_own_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "marlzoo.cli", *RUN, "--env", "tests.envs_for_tests:failing_env",
                             "--run-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={**os.environ, "MARLZOO_TRACEBACK": "1", "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert "Traceback" in result.stderr and 'raise RuntimeError("the physics exploded")' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("marlzoo: error: env 'tests.envs_for_tests:failing_env'")
