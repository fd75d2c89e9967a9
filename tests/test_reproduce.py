"""`marlzoo reproduce`: a tiny real grid (VDN and QMIX on simple_spread, 2 seeds, 800 env steps).

One run of the grid (local backend, 2 workers, offline W&B) is shared by the tests that read its
table, its cache and its W&B group; the kill-and-resume and Ray tests rerun it elsewhere and must
produce byte-identical per-seed metrics.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, run_cli
from marlzoo.config import load_config
from marlzoo.bench.reproduce import cache_key
from marlzoo.bench.results import format_number
from marlzoo.bench.stats import t_interval, t_quantile

TINY = {
    "title": "Tiny grid",
    "algos": ["vdn", "qmix"],
    "envs": ["simple_spread"],
    "seeds": 2,
    "steps": 800,
    "evaluation": {"test_episodes": 4, "test_interval": 400},
    "overrides": {"n_envs": 4, "log_interval": 400, "algo": {"batch_size": 4}},
    "notes": "## Why these two\n\nThe spec's own words, kept in the table file.\n",
}
CELLS = [f"{a}/simple_spread/seed{s}" for a in ("vdn", "qmix") for s in (0, 1)]


def write_spec(directory: Path, data: dict, name: str = "tiny") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cell_files(out: Path, name: str = "metrics.jsonl") -> dict[str, bytes]:
    return {cell: (out / "runs" / "tiny" / cell / name).read_bytes() for cell in CELLS}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The tiny grid, reproduced once with the local backend and offline W&B."""
    root = tmp_path_factory.mktemp("grid")
    spec = write_spec(root / "configs", TINY)
    result = run_cli("reproduce", str(spec), "--workers", "2", "--out", "out", "--wandb", "offline", cwd=root)
    assert result.returncode == 0, result.stderr
    return root, root / "out", result


@pytest.mark.slow
def test_table_has_the_right_rows_and_plausible_numbers(grid):
    root, out, result = grid
    assert "ran 4 cells, 0 cached, 0 failed" in result.stdout
    with open(out / "tiny.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["algo"], r["env"]) for r in rows] == [("vdn", "simple_spread"), ("qmix", "simple_spread")]
    for row in rows:
        finals, bests = [], []
        for seed in (0, 1):
            lines = (out / "runs" / "tiny" / row["algo"] / "simple_spread" / f"seed{seed}" / "metrics.jsonl").read_text()
            tests = [r for r in map(json.loads, lines.splitlines()) if "test/return_mean" in r]
            assert [r["env_steps"] for r in tests] == [400, 800]
            finals.append(tests[-1]["test/return_mean"])
            bests.append(max(r["test/return_mean"] for r in tests))
        assert int(row["seeds"]) == 2 and int(row["env_steps"]) == 800
        # simple_spread returns are negative distances summed over 3 agents and 25 steps.
        assert -600 < float(row["final_mean"]) < 0
        assert float(row["final_mean"]) == pytest.approx(np.mean(finals), abs=1e-3)
        assert float(row["max_mean"]) == pytest.approx(np.mean(bests), abs=1e-3)
        assert float(row["max_mean"]) >= float(row["final_mean"])
        assert float(row["final_ci95_low"]) < float(row["final_mean"]) < float(row["final_ci95_high"])
        half = 12.706 * np.std(finals, ddof=1) / np.sqrt(2)  # t(0.975, 1 dof)
        assert float(row["final_ci95_high"]) - float(row["final_mean"]) == pytest.approx(half, rel=1e-3, abs=1e-3)
        assert float(row["wall_clock_s_mean"]) > 0
        # 2 seeds: the IQM is their mean, and its bootstrap interval their range (resamples aa, ab, ba, bb)
        assert float(row["final_iqm"]) == pytest.approx(np.mean(finals), abs=1e-3)
        assert float(row["final_iqm_ci95_low"]) == pytest.approx(min(finals), abs=1e-3)
        assert float(row["final_iqm_ci95_high"]) == pytest.approx(max(finals), abs=1e-3)
        assert "bootstrap" in row["iqm_ci_method"]

    md = (out / "tiny.md").read_text()
    assert "| vdn | simple_spread |" in md and "| qmix | simple_spread |" in md
    assert "`marlzoo reproduce configs/tiny.yaml --out out`" in md
    assert "Student-t" in md and "800 env steps per run" in md
    # The spec's notes follow the key to the columns, so a regenerated file keeps them.
    assert md.index("Returns do not depend on it.") < md.index("## Why these two\n\nThe spec's own words") \
        < md.index("## Aggregates")
    info = json.loads((out / "runs" / "tiny" / "qmix" / "simple_spread" / "seed0" / "run.json").read_text())
    assert f"{info['env_package']} {info['env_version']}" in md  # the metric contract names the env's version
    assert info["hardware"]["cpu"] in md and "25 steps" in md
    png = (out / "plots" / "tiny-simple_spread.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "(plots/tiny-simple_spread.png)" in md


@pytest.mark.slow
def test_per_seed_artifacts_are_small_and_in_one_wandb_group(grid):
    root, out, result = grid
    # said once, at the start: the cells log offline, where their files go, and how to upload them
    (note,) = [line for line in result.stderr.splitlines() if "W&B logs offline" in line]
    assert "out/runs/tiny/<algo>/<env>/seed<k>/wandb/" in note and "wandb sync out/runs/tiny/*/*/seed*/wandb/offline-run-*" in note
    for cell in CELLS:
        d = out / "runs" / "tiny" / cell
        names = {p.name for p in d.iterdir()}
        assert names == {"metrics.jsonl", "run.json", "config.yaml", "cell.json", "wandb"}  # no checkpoint
        config = yaml.safe_load((d / "config.yaml").read_text())
        assert config["steps"] == 800 and config["test_episodes"] == 4 and config["algo"]["batch_size"] == 4
        assert config["wandb"]["group"] == "tiny"
    # One run's offline W&B log, read back: it joined the table's group and logged the test returns.
    offline = next((out / "runs" / "tiny" / CELLS[-1] / "wandb").glob("offline-run-*"))
    records = subprocess.run(["wandb", "leet", "inspect", "--json", str(offline)], capture_output=True, text=True,
                             timeout=120).stdout
    run = next(json.loads(line)["run"] for line in records.splitlines() if '"type":"run"' in line)
    assert run["run_group"] == "tiny" and run["display_name"] == "tiny-qmix-simple_spread-s1"
    assert '"test/return_mean"' in records
    assert not any((out / "runs" / "tiny" / ".scratch").iterdir())
    assert ".scratch/" in (out / "runs" / "tiny" / ".gitignore").read_text()


@pytest.mark.slow
def test_second_call_runs_nothing_and_the_key_follows_the_config(grid, cli_main, monkeypatch):
    root, out, _ = grid
    monkeypatch.chdir(root)
    before = {cell: os.stat(out / "runs" / "tiny" / cell / "metrics.jsonl").st_mtime_ns for cell in CELLS}
    table = (out / "tiny.md").read_text()
    code, stdout, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", "out")
    assert code == 0, stderr
    assert "ran 0 cells, 4 cached" in stdout
    assert before == {cell: os.stat(out / "runs" / "tiny" / cell / "metrics.jsonl").st_mtime_ns for cell in CELLS}
    assert (out / "tiny.md").read_text() == table
    # The W&B mode is not part of the key; a hyperparameter of one algorithm is, for that algorithm only.
    code, stdout, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", "out", "--wandb", "disabled", "--dry-run")
    assert "0 would run" in stdout, stdout + stderr
    # Cells cached without checkpoints run again under --keep-checkpoints, to write them.
    code, stdout, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", "out", "--keep-checkpoints", "--dry-run")
    assert "0 cached, 4 would run" in stdout, stdout + stderr
    changed = {**TINY, "algos": ["vdn", {"name": "qmix", "overrides": {"algo": {"lr": 0.001}}}]}
    write_spec(root / "changed", changed)
    code, stdout, stderr = cli_main("reproduce", "changed/tiny.yaml", "--out", "out", "--dry-run")
    assert "2 cached, 2 would run" in stdout, stdout + stderr
    assert "would run qmix/simple_spread/seed0" in stderr and "would run vdn" not in stderr


def _finals(out: Path, algo: str) -> list[float]:
    finals = []
    for seed in (0, 1):
        rows = map(json.loads, (out / "runs" / "tiny" / algo / "simple_spread" / f"seed{seed}" / "metrics.jsonl").read_text().splitlines())
        finals.append([r for r in rows if "test/return_mean" in r][-1]["test/return_mean"])
    return finals


def test_the_table_shows_the_probability_of_improvement(grid):
    _, out, _ = grid
    vdn, qmix = _finals(out, "vdn"), _finals(out, "qmix")
    wins = sum((v > q) + 0.5 * (v == q) for v in vdn for q in qmix) / 4  # Mann-Whitney U over the 4 pairs
    md = (out / "tiny.md").read_text()
    assert "## Aggregates" in md and "| P(row > column) | vdn | qmix |" in md
    assert f"| vdn | – | {wins:.2f}" in md and f"| qmix | {1 - wins:.2f}" in md
    assert "IQM over envs" not in md  # one env: the rows' IQMs are the aggregates
    assert f"[{format_number(min(vdn))}, {format_number(max(vdn))}]" in md  # vdn's IQM interval: its 2 seeds' range


def test_marl_eval_export_has_its_structure(grid):
    # marl-eval's README: environment -> task -> algorithm -> run -> step_k {step_count, metric: [..]},
    # each run closing with absolute_metrics; every run with the same steps (its numpy stacking needs it).
    _, out, result = grid
    assert "out/tiny.marl_eval.json" in result.stdout
    data = json.loads((out / "tiny.marl_eval.json").read_text())
    info = json.loads((out / "runs" / "tiny" / CELLS[0] / "run.json").read_text())
    assert list(data) == [info["env_package"]] == ["mpe2"]
    assert list(data["mpe2"]) == ["simple_spread"]
    task = data["mpe2"]["simple_spread"]
    assert list(task) == ["vdn", "qmix"]
    for algo, runs in task.items():
        assert list(runs) == ["seed_0", "seed_1"]
        for seed, (run_name, steps) in enumerate(runs.items()):
            assert list(steps) == ["step_0", "step_1", "absolute_metrics"]
            rows = map(json.loads, (out / "runs" / "tiny" / algo / "simple_spread" / f"seed{seed}" / "metrics.jsonl").read_text().splitlines())
            tests = [r for r in rows if "test/return_mean" in r]
            for i, row in enumerate(tests):
                assert steps[f"step_{i}"] == {"step_count": row["env_steps"], "return": [row["test/return_mean"]]}
                assert isinstance(steps[f"step_{i}"]["step_count"], int)
            assert steps["absolute_metrics"] == {"return": [tests[-1]["test/return_mean"]]}


def test_figures_take_the_specs_title_in_svg_and_pdf(grid, tmp_path, cli_main, monkeypatch):
    root, out, _ = grid
    copy = tmp_path / "out"
    shutil.copytree(out, copy)  # the other tests read the grid's own outputs
    monkeypatch.chdir(root)
    code, stdout, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", str(copy), "--format", "svg", "--dpi", "80")
    assert code == 0, stderr
    assert "ran 0 cells, 4 cached" in stdout
    svg = (copy / "plots" / "tiny-simple_spread.svg").read_text()
    assert "Tiny grid" in svg and "vdn (2 seeds)" in svg and "qmix (2 seeds)" in svg and "bootstrap" in svg
    md = (copy / "tiny.md").read_text()
    assert "![simple_spread](plots/tiny-simple_spread.svg)" in md
    code, _, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", str(copy), "--format", "pdf")
    assert code == 0, stderr
    assert (copy / "plots" / "tiny-simple_spread.pdf").read_bytes().startswith(b"%PDF")
    assert "[simple_spread (PDF)](plots/tiny-simple_spread.pdf)" in (copy / "tiny.md").read_text()
    code, _, stderr = cli_main("reproduce", "configs/tiny.yaml", "--out", str(copy), "--dpi", "0")
    assert code == 2 and stderr.count("\n") == 1 and "--dpi" in stderr


def test_keep_checkpoints_keeps_a_cell_that_marlzoo_eval_can_read(cli_main, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = {**TINY, "algos": ["vdn"], "seeds": 1, "steps": 100, "evaluation": {"test_episodes": 2, "test_interval": 100},
           "overrides": {"n_envs": 2, "log_interval": 100, "algo": {"batch_size": 2}}}
    write_spec(tmp_path / "configs", one)
    cell = Path("out/runs/tiny/vdn/simple_spread/seed0")
    code, stdout, stderr = cli_main("reproduce", "configs/tiny.yaml", "--workers", "1", "--out", "out",
                                    "--wandb", "disabled", "--keep-checkpoints")
    assert code == 0, stderr
    assert "ran 1 cells, 0 cached" in stdout
    assert torch.load(cell / "checkpoint.pt", weights_only=True)["env_steps"] == 100
    code, stdout, _ = cli_main("reproduce", "configs/tiny.yaml", "--out", "out", "--dry-run")
    assert "1 cached, 0 would run" in stdout, "a kept checkpoint does not make the cell stale"
    code, stdout, stderr = cli_main("eval", "--run", str(cell), "--episodes", "2", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["episodes"] == 2 and -600 < json.loads(stdout)["return_mean"] < 0


def _children(pid: int, marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and marker in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_a_killed_call_resumes(grid, tmp_path):
    _, grid_out, _ = grid
    spec = write_spec(tmp_path / "configs", {**TINY, "keep_checkpoints": True})
    out = tmp_path / "out"
    proc = subprocess.Popen(["marlzoo", "reproduce", str(spec), "--workers", "1", "--out", str(out), "--wandb", "disabled"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def wait_for_cells(n: int) -> None:
        deadline = time.monotonic() + 300
        while len(list((out / "runs" / "tiny").glob("*/*/seed*/cell.json"))) < n and time.monotonic() < deadline:
            assert proc.poll() is None, "reproduce ended before it was killed"
            time.sleep(0.1)
        assert len(list((out / "runs" / "tiny").glob("*/*/seed*/cell.json"))) >= n, "timed out"

    wait_for_cells(1)
    # A worker killed from outside breaks the process pool: the driver starts a new one and carries on.
    workers = _children(proc.pid, "spawn_main")
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    wait_for_cells(2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-table
    proc.wait(timeout=30)
    done = sorted(str(p.parent.relative_to(out / "runs" / "tiny")) for p in (out / "runs" / "tiny").glob("*/*/seed*/cell.json"))
    assert 2 <= len(done) < 4
    kept = {cell: (out / "runs" / "tiny" / cell / "cell.json").read_text() for cell in done}
    assert not (out / "tiny.md").exists()

    resumed = run_cli("reproduce", str(spec), "--workers", "2", "--out", str(out), "--wandb", "disabled")
    assert resumed.returncode == 0, resumed.stderr
    assert f"ran {4 - len(done)} cells, {len(done)} cached" in resumed.stdout
    assert kept == {cell: (out / "runs" / "tiny" / cell / "cell.json").read_text() for cell in done}
    assert cell_files(out) == cell_files(grid_out)  # resumed or not, the same per-seed metrics
    assert "| 2 |" in (out / "tiny.md").read_text()
    for cell in CELLS:  # keep_checkpoints: each cell directory is a run `marlzoo eval` can read
        checkpoint = torch.load(out / "runs" / "tiny" / cell / "checkpoint.pt", weights_only=True)
        assert checkpoint["env_steps"] == 800 and checkpoint["algo"] == cell.split("/")[0]


@pytest.mark.slow
def test_ray_backend_gives_the_same_per_seed_metrics(grid, tmp_path):
    pytest.importorskip("ray", reason='the Ray backend needs ray: pip install "marlzoo[ray]"')
    _, grid_out, _ = grid
    spec = write_spec(tmp_path / "configs", TINY)
    result = run_cli("reproduce", str(spec), "--backend", "ray", "--workers", "2", "--out", str(tmp_path / "out"),
                     "--wandb", "disabled")
    assert result.returncode == 0, result.stderr
    assert "ran 4 cells" in result.stdout
    assert cell_files(tmp_path / "out") == cell_files(grid_out)
    meta = json.loads((tmp_path / "out" / "runs" / "tiny" / CELLS[0] / "cell.json").read_text())
    assert meta["backend"] == "ray"


@pytest.mark.slow
def test_a_table_survives_a_ray_worker_killed_mid_cell(tmp_path):
    """One cell's worker is killed with SIGKILL mid-cell: Ray runs the cell again and it finishes. The
    other cell's env kills its own worker every time: after its retries it fails in one line, and the
    table is written, marked incomplete in its header and in the command's last line."""
    pytest.importorskip("ray", reason='the Ray backend needs ray: pip install "marlzoo[ray]"')
    pids = tmp_path / "pids"
    env = "tests.envs_for_tests:watched_env"
    spec = write_spec(tmp_path, {
        "title": "Lost worker", "algos": ["random"], "seeds": 1, "steps": 200,
        "envs": [{"name": env, "label": "killed", "kwargs": {"pid_file": str(pids), "delay": 0.02}},
                 {"name": env, "label": "doomed", "kwargs": {"die_at": 5}}],
        "evaluation": {"test_episodes": 1, "test_interval": 200}, "overrides": {"n_envs": 1, "log_interval": 200}})
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(["marlzoo", "reproduce", str(spec), "--backend", "ray", "--workers", "2", "--out",
                             str(tmp_path / "out"), "--wandb", "disabled"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
    deadline = time.monotonic() + 300
    while not (pids.is_file() and pids.read_text().strip()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    first = int(pids.read_text().split()[0])  # the Ray worker training the cell, at its first env step
    assert first != proc.pid
    os.kill(first, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stdout + stderr and "raylet" not in stdout + stderr
    assert {int(p) for p in pids.read_text().split()} - {first}, "the killed cell ran again, in another worker"
    assert "done random/killed/seed0" in stderr
    (failed,) = [line for line in stderr.splitlines() if line.startswith("failed ")]
    assert failed.startswith("failed random/doomed/seed0: its Ray worker died 3 times (killed from outside, out of memory")
    assert stdout.strip().splitlines()[-1].startswith("table tiny is INCOMPLETE, 1 of 2 cells missing")
    table = (tmp_path / "out" / "tiny.md").read_text()
    assert "**Incomplete: 1 of 2 cells are missing** (random on doomed (1 of 1 seeds))" in table
    assert (tmp_path / "out" / "runs" / "tiny" / "random" / "killed" / "seed0" / "cell.json").is_file()


BAD_SPECS = [
    ({**TINY, "step": 100}, "unknown config key 'step'", "did you mean 'steps'"),
    ({**TINY, "algos": ["vdn", "qmx"]}, "unknown algorithm 'qmx'", "did you mean 'qmix'"),
    ({**TINY, "envs": ["simple_sprad"]}, "unknown env 'simple_sprad'", "did you mean 'simple_spread'"),
    ({**TINY, "evaluation": {"test_episode": 4}}, "unknown config key 'evaluation.test_episode'", "tiny.yaml"),
    ({**TINY, "algos": [{"name": "qmix", "overrides": {"algo": {"lrr": 0.1}}}]}, "unknown config key 'algo.lrr'",
     "algos[qmix].overrides"),
    ({**TINY, "envs": [{"name": "simple_spread", "kwarg": {"N": 2}}]}, "unknown config key 'envs[0].kwarg'", "did you mean"),
    ({**TINY, "overrides": {"steps": 10}}, "sets 'steps'", "the table's 'steps'"),
    ({**TINY, "seeds": [0, 0]}, "lists a seed twice", "seeds"),
    ({**TINY, "envs": ["simple_spread", "simple_spread"]}, "both labelled 'simple_spread'", "label"),
]


@pytest.mark.parametrize("data,first,second", BAD_SPECS, ids=[b[1].split("'")[1] if "'" in b[1] else b[1] for b in BAD_SPECS])
def test_a_bad_spec_is_one_clear_line(cli_main, tmp_path, data, first, second):
    spec = write_spec(tmp_path, data)
    code, out, err = cli_main("reproduce", str(spec), "--out", str(tmp_path / "out"), "--dry-run")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("marlzoo: error: ")
    assert first in err and second in err
    assert not (tmp_path / "out").exists()  # nothing written for a bad spec


def test_a_missing_spec_and_a_bad_backend_option(cli_main, tmp_path):
    code, _, err = cli_main("reproduce", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml does not exist" in err
    spec = write_spec(tmp_path, TINY)
    code, _, err = cli_main("reproduce", str(spec), "--address", "127.0.0.1:6379", "--dry-run")
    assert code == 2 and "--backend ray" in err


def test_t_interval():
    # Two-sided 95% t quantiles from standard tables.
    for df, q in [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (1000, 1.962)]:
        assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-3)
    iv = t_interval([1.0, 2.0, 3.0])
    assert iv.point == 2.0 and iv.high - iv.point == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
    assert np.isnan(t_interval([5.0]).low)


def test_options_added_after_tables_were_cached_leave_keys_alone_at_their_defaults():
    config = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled"])
    data = config.to_dict()
    assert data["algo"]["lr_anneal_steps"] == 0 and data["learner"] == "inline" and data["env"]["scale_obs"] is False
    assert data["env"]["backend"] == "auto"
    older = copy.deepcopy(data)  # as the config was before these options existed
    del older["algo"]["lr_anneal_steps"], older["learner"], older["env"]["scale_obs"], older["env"]["backend"]
    assert cache_key(config) == cache_key(older)
    assert data["algo"]["lr_anneal_steps"] == 0, "computing a key must not change the config"
    annealed = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled", "algo.lr_anneal_steps=1000"])
    assert cache_key(annealed) != cache_key(config)
    scaled = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled", "env.scale_obs=true"])
    assert cache_key(scaled) != cache_key(config)
    for stepping in ("env.backend=vectorised", "env.backend=pettingzoo", "env.n_workers=2"):  # the same numbers
        same = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled", stepping])
        assert cache_key(same) == cache_key(config), stepping


def test_a_table_is_found_by_name_among_the_configs(tmp_path, monkeypatch):
    from marlzoo.config import CONFIG_DIR
    from marlzoo.bench.tables import load_table

    monkeypatch.chdir(tmp_path)  # away from the source tree, as after a wheel install
    assert load_table("qlearning_mpe").name == "qlearning_mpe"
    spec = load_table("configs/tables/mappo_spread.yaml")
    assert spec.name == "mappo_spread" and spec.path == CONFIG_DIR / "tables" / "mappo_spread.yaml"


def test_checkpoint_scheduling_keys_leave_the_committed_cells_cached():
    """keep_checkpoints, checkpoint_at_test and checkpoint_buffer cannot change a run's numbers: at any
    value they leave the committed cells (results/runs/...) cached. (15 committed random-play cells of
    mpe, qlearning_mpe and the ctde tables were stale before these keys existed; they are not counted.)"""
    from marlzoo.bench.fingerprint import code_fingerprint
    from marlzoo.bench.store import TableStore
    from marlzoo.bench.tables import load_table

    cached = 0
    for path in sorted((REPO / "configs" / "tables").glob("*.yaml")):
        if not (REPO / "results" / "runs" / path.stem).is_dir():
            continue  # no committed cells (loading the matrix games' 90 cells takes seconds)
        spec = load_table(str(path))
        store = TableStore(REPO / "results", spec.name)
        for cell in spec.cells:
            code = code_fingerprint(cell.config.algo_name)  # what cells made since fingerprints are checked against
            if not store.state(cell, cache_key(cell.config), code=code).cached:
                continue
            cached += 1
            changed = copy.deepcopy(cell.config)
            changed.keep_checkpoints, changed.checkpoint_at_test, changed.checkpoint_buffer = 3, False, False
            assert store.state(cell, cache_key(changed), code=code).cached, f"{spec.name}/{cell.name}"
    # 105 of the 120 committed cells when these keys were added; 161 after the reruns of 2026-12-01
    assert cached >= 150
