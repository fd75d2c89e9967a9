"""``marlzoo plot`` and ``marlzoo compare`` on real runs: VDN on simple_spread for 300 env steps, seeds
0 and 1 at the default learning rate and seed 0 at another, trained through the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from marlzoo.bench.results import format_number
from marlzoo.bench.runs import RunData, group_runs
from marlzoo.cli import main
from tests.conftest import FAST, read_metrics

RUNS = {"lr1e-3-s0": ["--seed", "0"], "lr1e-3-s1": ["--seed", "1"], "lr5e-4-s0": ["--seed", "0", "--set", "algo.lr=0.0005"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for run_id, extra in RUNS.items():
        code = main(["run", "--algo", "vdn", "--env", "simple_spread", "--steps", "300", *FAST, *extra,
                     "--run-dir", str(root), "--run-id", run_id])
        assert code == 0
    return root


def finals_and_bests(run_dir: Path) -> tuple[float, float]:
    tests = [r["test/return_mean"] for r in read_metrics(run_dir) if "test/return_mean" in r]
    assert len(tests) == 3  # evaluations at 100, 200 and 300 env steps
    return tests[-1], max(tests)


def test_compare_groups_seeds_and_names_what_differs(runs, cli_main):
    code, out, err = cli_main("compare", *(str(runs / r) for r in RUNS))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("vdn on simple_spread: 3 runs in 2 groups")
    default = next(line for line in lines if line.startswith("algo.lr=0.001 "))
    other = next(line for line in lines if line.startswith("algo.lr=0.0005 "))
    (f0, b0), (f1, b1) = finals_and_bests(runs / "lr1e-3-s0"), finals_and_bests(runs / "lr1e-3-s1")
    assert " 0, 1 " in default and " 300 " in default
    # mean and t interval, then the IQM (the mean, with 2 seeds) and its bootstrap interval (their range)
    half = 12.706 * np.std([f0, f1], ddof=1) / np.sqrt(2)
    mean = (f0 + f1) / 2
    assert f"{format_number(mean)} [{format_number(mean - half)}, {format_number(mean + half)}]" in default
    assert f"{format_number(mean)} [{format_number(min(f0, f1))}, {format_number(max(f0, f1))}]" in default
    assert default.rstrip().endswith(format_number((b0 + b1) / 2))
    f2, _ = finals_and_bests(runs / "lr5e-4-s0")
    assert f"{format_number(f2)} (1 seed, no CI)" in other
    # a directory holding run directories stands for all of them
    code, out_dir, _ = cli_main("compare", str(runs))
    assert code == 0 and out_dir == out


def test_plot_draws_a_curve_per_config_with_a_band_across_seeds(runs, cli_main, tmp_path):
    figure = tmp_path / "fig.svg"
    code, out, err = cli_main("plot", str(runs), "--out", str(figure))
    assert code == 0, err
    assert f"wrote {figure}" in out
    svg = figure.read_text()
    assert "algo.lr=0.001 (2 seeds)" in svg and "algo.lr=0.0005 (1 seed)" in svg
    assert "vdn on simple_spread" in svg  # the title: what the runs share
    assert len(re.findall(r'id="\w*PolyCollection_\d+"', svg)) == 1  # one band: only the 2-seed curve has one
    code, _, err = cli_main("plot", str(runs / "lr1e-3-s0"), "--out", str(figure), "--title", "My own title")
    assert code == 0, err
    assert "My own title" in figure.read_text()


def test_plot_formats_dpi_and_reproducible_bytes(runs, cli_main, tmp_path):
    for dpi in (50, 120):
        png = tmp_path / f"fig{dpi}.png"
        assert cli_main("plot", str(runs), "--out", str(png), "--dpi", str(dpi))[0] == 0
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG")
        width = int.from_bytes(data[16:20], "big")  # the IHDR chunk
        assert width == round(6.4 * dpi)
    for name in ("a.pdf", "b.pdf"):
        assert cli_main("plot", str(runs), "--out", str(tmp_path / name))[0] == 0
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()  # no dates inside
    assert not list(tmp_path.glob(".*.tmp"))


def test_seed_wandb_and_options_added_later_do_not_split_a_group(runs, tmp_path, cli_main):
    copy = tmp_path / "s1"
    shutil.copytree(runs / "lr1e-3-s1", copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["wandb"] = {"mode": "offline", "project": "elsewhere", "entity": None, "group": "g"}
    del config["learner"]  # a config written before the learner option existed (marlzoo.bench.store.ADDED_KEYS)
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    partial = tmp_path / ".scratch" / "running"  # a table's cell still running: skipped in a directory walk
    partial.mkdir(parents=True)
    (partial / "metrics.jsonl").write_text("")
    shutil.copy(runs / "lr1e-3-s0" / "config.yaml", partial / "config.yaml")
    shutil.copytree(runs / "lr1e-3-s0", tmp_path / "s0")
    code, out, err = cli_main("compare", str(tmp_path))
    assert code == 0, err
    assert "2 runs in 1 group " in out and " 0, 1 " in out


def _run(config: dict, final: float) -> RunData:
    return RunData(Path("."), config, {}, np.array([[100.0, final - 5.0], [200.0, final]]))


def test_labels_name_only_what_tells_the_curves_apart(runs):
    vdn = yaml.safe_load((runs / "lr1e-3-s0" / "config.yaml").read_text())
    qmix = json.loads(json.dumps(vdn))
    qmix["algo"] = {**qmix["algo"], "name": "qmix", "mixing_embed_dim": 32, "lr": 0.0005}
    spread4 = json.loads(json.dumps(vdn))
    spread4["env"]["kwargs"]["N"] = 4
    spread4["n_envs"] = 4
    groups = group_runs([_run(vdn, -60.0), _run(qmix, -58.0), _run(spread4, -70.0)])
    # qmix's own keys and its lr are not compared with vdn's; the env's kwargs and n_envs are, for all.
    assert [g.label for g in groups] == ["vdn, env.kwargs.N=3, n_envs=2", "qmix, env.kwargs.N=3, n_envs=2",
                                         "vdn, env.kwargs.N=4, n_envs=4"]
    assert [g.label for g in group_runs([_run(vdn, -60.0), _run(qmix, -58.0)])] == ["vdn", "qmix"]


def _bad(root: Path) -> dict[str, tuple[Path, str]]:
    empty = root / "empty"
    empty.mkdir()
    a_file = root / "notes.txt"
    a_file.write_text("hello\n")
    untested = root / "untested"
    untested.mkdir()
    (untested / "metrics.jsonl").write_text(json.dumps({"env_steps": 50, "train/return_mean": -80.0}) + "\n")
    (untested / "config.yaml").write_text("seed: 0\n")
    no_config = root / "no_config"
    no_config.mkdir()
    (no_config / "metrics.jsonl").write_text(json.dumps({"env_steps": 50, "test/return_mean": -80.0}) + "\n")
    broken = root / "broken"
    broken.mkdir()
    (broken / "metrics.jsonl").write_text('{"env_steps": 50, "test/return_mean": -8\n')
    (broken / "config.yaml").write_text("seed: 0\n")
    return {
        "missing": (root / "nope", "does not exist"),
        "empty": (empty, "no metrics.jsonl"),
        "file": (a_file, "is not a run directory"),
        "untested": (untested, "no greedy evaluations"),
        "no_config": (no_config, "has no config.yaml"),
        "broken": (broken, "line 1 is not JSON"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "file", "untested", "no_config", "broken"])
@pytest.mark.parametrize("command", ["plot", "compare"])
def test_bad_run_directories_are_one_line(runs, tmp_path, cli_main, command, case):
    path, message = _bad(tmp_path)[case]
    figure = tmp_path / "fig.png"
    extra = ["--out", str(figure)] if command == "plot" else []
    code, out, err = cli_main(command, str(runs / "lr1e-3-s0"), str(path), *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("marlzoo: error: ") and message in err, err
    assert not figure.exists()


@pytest.mark.parametrize("args,message", [(["--out", "fig.jpg"], ".png, .svg or .pdf"), (["--dpi", "0"], "--dpi")])
def test_bad_plot_options_are_one_line(runs, tmp_path, cli_main, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli_main("plot", str(runs), *args)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.iterdir())
