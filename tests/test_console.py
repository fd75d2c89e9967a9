"""What a run says on the console: plain lines when the output is not a terminal, the evaluation lines
under --no-progress, a first line when a rollout run will overshoot its budget, TensorBoard as an
opt-in sink; and the commands that must answer fast (--help, --version) or describe what is installed
(list)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import FAST, read_metrics

NO_BATCH = FAST[:-2]  # for algorithms without a batch_size
# rich treats these as "this is a terminal"; a run piped into a file has none of them
PLAIN_ENV = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=PLAIN_ENV)


def plain_run(*args: str) -> subprocess.CompletedProcess:
    """The ``marlzoo`` console script with its output captured, as in a pipe or CI."""
    return subprocess.run(["marlzoo", *args], capture_output=True, text=True, timeout=300, env=PLAIN_ENV)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["run", "--help"], ["reproduce", "--help"]])
def test_help_and_version_import_no_torch(argv):
    result = _python(
        "import sys\n"
        "from marlzoo.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'wandb', 'pettingzoo', 'mpe2') if m in sys.modules)\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] 0" in result.stderr
    assert ("marlzoo 0." in result.stdout) if argv == ["--version"] else ("usage: marlzoo" in result.stdout)


def test_list_shows_each_algorithms_base_and_action_kinds_and_each_envs_package():
    result = _python(
        "import sys\n"
        "from marlzoo.cli import main\n"
        "main(['list'])\n"
        "print('ENV MODULES', sorted(m for m in ('mpe2', 'pettingzoo.sisl', 'marlzoo.envs.matrix_games') "
        "if m in sys.modules), file=sys.stderr)\n"
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("  ")}
    assert rows["qmix"][1:3] == ["replay", "discrete"]
    assert rows["mappo"][1:4] == ["rollouts", "discrete,", "continuous"]
    assert rows["maddpg"][1:4] == ["replay", "discrete,", "continuous"]
    assert rows["simple_spread"][1] == "mpe2"
    assert rows["multiwalker"][1] == "pettingzoo[sisl]" and "marlzoo[sisl]" in " ".join(rows["multiwalker"])
    assert rows["nonmonotonic"][1] == "marlzoo"
    assert "ENV MODULES []" in result.stderr, "listing the envs imports none of them"


def test_output_that_is_not_a_terminal_gets_plain_lines(tmp_path):
    result = plain_run("run", "--algo", "vdn", "--env", "simple_spread", "--steps", "400",
                       *[a for a in FAST if a != "--no-progress"], "--run-dir", str(tmp_path), "--run-id", "p")
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "━" not in err and "\x1b" not in err and "\r" not in err, "no bar, no escape codes"
    periodic = [line for line in err.splitlines() if " of 400 " in line]
    # n_envs=2 episodes of 25 steps: 50 env steps per collection, a line at each tenth of 400
    assert [int(line.split()[2].replace(",", "")) for line in periodic] == [50, 100, 150, 200, 250, 300, 350, 400]
    assert all("steps/s" in line and "train return" in line for line in periodic)
    tests = [line for line in err.splitlines() if "test return" in line]
    assert [int(line.split()[2].replace(",", "")) for line in tests] == [100, 200, 300, 400]


@pytest.fixture
def plain(monkeypatch, cli_main):
    """``marlzoo.cli.main`` in this process, its stderr captured (no terminal), with nothing that tells rich otherwise."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    return cli_main


def test_no_progress_keeps_the_evaluation_lines_only(plain, tmp_path):
    code, _, err = plain("run", "--algo", "vdn", "--env", "simple_spread", "--steps", "300", *FAST,
                         "--run-dir", str(tmp_path), "--run-id", "q")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert [int(line.split()[2]) for line in lines] == [100, 200, 300], err
    assert all("test return" in line for line in lines), err


def test_a_rollout_run_says_first_why_it_overshoots_its_budget(plain, tmp_path):
    # 2 env copies x 20-step rollouts = 40 env steps per iteration: 100 steps take 120
    common = ["--algo", "mappo", "--env", "simple_spread", *NO_BATCH, "--set", "algo.rollout_length=20",
              "--run-dir", str(tmp_path)]
    code, _, err = plain("run", *common, "--steps", "100", "--run-id", "over")
    assert code == 0, err
    first = err.splitlines()[0]
    assert "takes 120 env steps, not 100" in first and "multiple of 40" in first
    assert json.loads((tmp_path / "over" / "run.json").read_text())["env_steps"] == 120
    code, _, err = plain("run", *common, "--steps", "120", "--run-id", "exact")
    assert code == 0, err
    assert "not 120" not in err and "multiple of" not in err
    assert read_metrics(tmp_path / "exact")[-1]["env_steps"] == 120
    assert (tmp_path / "over" / "metrics.jsonl").read_bytes() == (tmp_path / "exact" / "metrics.jsonl").read_bytes(), \
        "announcing the overshoot changes nothing the run computes"


def test_tensorboard_sink_holds_every_metric_row(plain, tmp_path):
    pytest.importorskip("tensorboard", reason="the TensorBoard sink needs tensorboard: pip install 'marlzoo[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    code, _, err = plain("run", "--algo", "qmix", "--env", "simple_spread", "--steps", "300", *FAST, "--tensorboard",
                         "--run-dir", str(tmp_path), "--run-id", "tb")
    assert code == 0, err
    assert "TensorBoard logs to" in err
    run = tmp_path / "tb"
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = read_metrics(run)
    tags = set(events.Tags()["scalars"])
    assert {"train/return_mean", "test/return_mean", "loss/td", "epsilon", "time/sps"} <= tags
    for tag in ("test/return_mean", "train/return_mean", "loss/td"):
        logged = [(r["env_steps"], r[tag]) for r in rows if tag in r]
        read = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in read] == [s for s, _ in logged], tag
        assert [v for _, v in read] == pytest.approx([v for _, v in logged], rel=1e-6), tag


def test_tensorboard_without_its_package_is_one_line_and_leaves_no_run(plain, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    code, _, err = plain("run", "--algo", "vdn", "--env", "simple_spread", "--steps", "100", *FAST, "--tensorboard",
                         "--run-dir", str(tmp_path / "runs"), "--run-id", "x")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("marlzoo: error: ") and "marlzoo[tensorboard]" in lines[0]
    assert not (tmp_path / "runs").exists()
