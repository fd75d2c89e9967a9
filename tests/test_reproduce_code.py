"""The reproduce cache knows the code: a cell records the fingerprint of the code that made it, an
edit to an algorithm (or to marlzoo's training source) reruns its cells and `--dry-run` says why, and
the committed cells, made before fingerprints, still read as cached and say so."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from marlzoo import register_algo
from marlzoo.bench import fingerprint, reproduce as reproduce_module
from marlzoo.bench.reproduce import plan, reproduce, run_cell
from marlzoo.bench.store import TableStore, cache_key
from marlzoo.bench.tables import load_table
from tests.conftest import REPO

PLUGIN = '''"""An algorithm of the test's own, in a module the test edits."""
from marlzoo.algos.random_play import RandomPlay


class Edited(RandomPlay):
    pass
'''


class InlineBackend:
    """Runs each cell in this process, so that an algorithm registered here is found (the pool's
    spawned workers would not know it)."""

    name = "local"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def run(self, tasks, on_result):
        for task in tasks:
            on_result(task, run_cell(task))


@pytest.fixture
def edited(tmp_path, monkeypatch):
    """A table of two cells, the edited algorithm and random play, and a way to rerun or dry-run it."""
    (tmp_path / "edited_algo.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    register_algo("test_only_edited")(importlib.import_module("edited_algo").Edited)
    spec = tmp_path / "tiny_code.yaml"
    spec.write_text(yaml.safe_dump({"title": "Code", "algos": ["test_only_edited", "random"], "envs": ["simple_spread"],
                                    "seeds": 1, "steps": 50, "evaluation": {"test_episodes": 1, "test_interval": 50},
                                    "overrides": {"n_envs": 1, "log_interval": 50}}))
    monkeypatch.setattr(reproduce_module, "make_backend", lambda *a: InlineBackend())
    fingerprint.forget()
    yield tmp_path, spec
    fingerprint.forget()
    sys.modules.pop("edited_algo", None)


def reasons(spec: Path, out: Path, **kw) -> dict[str, str]:
    fingerprint.forget()
    table = load_table(spec)
    todo, cached = plan(table, TableStore(out, table.name), **kw)
    return {p.cell.algo: p.state.reason for p in todo + cached}


@pytest.mark.slow
def test_editing_an_algorithm_reruns_its_cells_and_dry_run_says_why(edited, monkeypatch, capsys):
    tmp, spec = edited
    out = tmp / "out"
    assert reproduce(spec, out=out, wandb_mode="disabled").ran == ["test_only_edited/simple_spread/seed0",
                                                                   "random/simple_spread/seed0"]
    meta = json.loads((out / "runs" / "tiny_code" / "test_only_edited" / "simple_spread" / "seed0" / "cell.json").read_text())
    assert meta["code"]["algo_modules"] == ["edited_algo", "marlzoo.algos.random_play"]  # the built-in it builds on too
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached"}

    # A comment or a docstring is not code.
    module = tmp / "edited_algo.py"
    module.write_text(PLUGIN.replace("class Edited(RandomPlay):", "class Edited(RandomPlay):  # a comment\n    \"\"\"Docs.\"\"\""))
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached"}
    # A line of code is, for that algorithm only.
    module.write_text(PLUGIN.replace("    pass", "    label = 'edited'"))
    assert reasons(spec, out) == {
        "test_only_edited": "code changed: the algorithm's source (edited_algo, marlzoo.algos.random_play)",
        "random": "cached"}
    capsys.readouterr()
    reproduce(spec, out=out, wandb_mode="disabled", dry_run=True)
    err = capsys.readouterr().err
    assert "would run test_only_edited/simple_spread/seed0: code changed: the algorithm's source" in err
    assert "cached random/simple_spread/seed0 (key " in err
    report = reproduce(spec, out=out, wandb_mode="disabled")
    assert report.ran == ["test_only_edited/simple_spread/seed0"] and report.cached == 1
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached"}

    # marlzoo's training source counts for every cell; its command line and its bench do not.
    copy = tmp / "marlzoo"
    shutil.copytree(fingerprint.MARLZOO_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "MARLZOO_ROOT", copy)
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached"}
    for presentation in ("cli.py", "bench/results.py", "training/progress.py"):
        (copy / presentation).write_text((copy / presentation).read_text() + "\nEXTRA = 1\n")
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached"}
    (copy / "training" / "loops.py").write_text((copy / "training" / "loops.py").read_text() + "\nEXTRA = 1\n")
    assert set(reasons(spec, out).values()) == {"code changed: marlzoo's training source"}


@pytest.mark.slow
def test_a_cell_without_a_fingerprint_stays_cached_says_so_and_can_be_rerun(edited, capsys):
    tmp, spec = edited
    out = tmp / "out"
    reproduce(spec, out=out, wandb_mode="disabled")
    cell_json = out / "runs" / "tiny_code" / "random" / "simple_spread" / "seed0" / "cell.json"
    meta = json.loads(cell_json.read_text())
    del meta["code"]  # as cells were written before fingerprints
    cell_json.write_text(json.dumps(meta))
    assert reasons(spec, out) == {"test_only_edited": "cached", "random": "cached (made before code fingerprints)"}
    report = reproduce(spec, out=out, wandb_mode="disabled")
    assert report.ran == [] and report.unfingerprinted == 1
    table = (out / "tiny_code.md").read_text()
    assert "1 of the 2 cells were made before `cell.json` recorded a fingerprint" in table
    assert "--rerun-unfingerprinted" in table and "Incomplete" not in table
    assert reasons(spec, out, rerun_unfingerprinted=True)["random"] == "made before code fingerprints (--rerun-unfingerprinted)"
    report = reproduce(spec, out=out, wandb_mode="disabled", rerun_unfingerprinted=True)
    assert report.ran == ["random/simple_spread/seed0"]
    assert "code" in json.loads(cell_json.read_text())
    assert "made before" not in (out / "tiny_code.md").read_text()


@pytest.mark.slow
def test_committed_cells_still_read_as_cached():
    """No committed cell is rerun by accident: each one's config still gives its cache key, so it is
    cached, unless the code that trains it changed since it ran, which is the fingerprint's job
    (``--dry-run`` says so). Cells made before fingerprints count as cached."""
    checked = 0
    for spec_path in sorted((REPO / "configs" / "tables").glob("*.yaml")):
        if not (REPO / "results" / "runs" / spec_path.stem).is_dir():  # a table never run (loading one takes time)
            continue
        table = load_table(spec_path)
        store = TableStore(REPO / "results", table.name)
        todo, cached = plan(table, store)
        committed = {p.cell.name for p in todo + cached
                     if (store.cell_dir(p.cell) / "cell.json").is_file()
                     and json.loads((store.cell_dir(p.cell) / "cell.json").read_text())["key"] == cache_key(p.cell.config)}
        stale = {p.cell.name for p in todo if p.state.reason.startswith("code changed")}
        assert {p.cell.name for p in cached} | stale == committed, table.name
        assert all(p.state.reason in ("cached", "cached (made before code fingerprints)") for p in cached), table.name
        checked += len(committed)
    # over a hundred until issue 16 changed QMIX's and MADDPG's defaults, which re-keys 30 committed cells
    assert checked >= 70, "the committed tables hold at least seventy current cells"


def test_a_plugins_distribution_and_version_enter_its_fingerprint():
    import yaml as module

    assert fingerprint._distribution(module.__name__ + ".anything") == f"PyYAML {module.__version__}"
    assert fingerprint._distribution("marlzoo.algos.qmix") is None  # the built-ins' code is hashed instead
    changed = fingerprint.code_changes({"marlzoo": "a", "algo": "b", "algo_dist": "p 1.0"},
                                       {"marlzoo": "a", "algo": "b", "algo_dist": "p 1.1"})
    assert changed == ["the plugin's version (p 1.0 -> p 1.1)"]


def _made_by_older_code(out: Path, table: str) -> None:
    """Stamp every cell of ``table`` as made by another version of marlzoo's training source, as a
    commit that edits the trainer leaves them."""
    for cell_json in (out / "runs" / table).glob("*/*/seed*/cell.json"):
        meta = json.loads(cell_json.read_text())
        meta["code"]["marlzoo"] = "0123456789abcdef"
        cell_json.write_text(json.dumps(meta))


@pytest.mark.slow
def test_verify_code_reruns_one_seed_per_algorithm_and_env_and_accepts_the_rest_only_if_identical(edited, capsys):
    tmp, spec = edited
    spec.write_text(spec.read_text().replace("seeds: 1", "seeds: 3"))
    out = tmp / "out"
    assert len(reproduce(spec, out=out, wandb_mode="disabled").ran) == 6
    runs = out / "runs" / "tiny_code"
    _made_by_older_code(out, "tiny_code")
    # The old code's random play "wrote" another return at its first evaluation: its sample must differ.
    metrics = runs / "random" / "simple_spread" / "seed0" / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    rows[0]["test/return_mean"] = rows[0].get("test/return_mean", 0.0) + 1.0
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert set(reasons(spec, out).values()) == {"code changed: marlzoo's training source"}

    capsys.readouterr()
    dry = reproduce(spec, out=out, wandb_mode="disabled", dry_run=True, verify_code=True)
    err = capsys.readouterr().err
    assert "would run random/simple_spread/seed0: code changed: marlzoo's training source (--verify-code: the sample for 3 cells)" in err
    assert "would check random/simple_spread/seed2 by its sample" in err
    assert sorted(dry.ran) == ["random/simple_spread/seed0", "test_only_edited/simple_spread/seed0"]

    report = reproduce(spec, out=out, wandb_mode="disabled", verify_code=True)
    err = capsys.readouterr().err
    # The edited algorithm's sample reproduced, so its other seeds were accepted without running;
    # random play's did not, so its other seeds ran again.
    assert sorted(report.ran) == ["random/simple_spread/seed0", "random/simple_spread/seed1",
                                  "random/simple_spread/seed2", "test_only_edited/simple_spread/seed0"]
    assert report.cached == 2 and not report.failed and not report.missing
    assert sorted(report.accepted) == ["test_only_edited/simple_spread/seed1", "test_only_edited/simple_spread/seed2"]
    assert "identical test_only_edited/simple_spread/seed0: its 2 other cells are accepted for the current code" in err
    assert "differs random/simple_spread/seed0 at row 1 (env step" in err and "its 2 other cells run again" in err
    assert set(reasons(spec, out).values()) == {"cached"}
    accepted = json.loads((runs / "test_only_edited" / "simple_spread" / "seed2" / "cell.json").read_text())
    assert accepted["code"]["marlzoo"] == fingerprint.marlzoo_fingerprint()
    assert accepted["code_history"][0]["code"]["marlzoo"] == "0123456789abcdef"
    assert accepted["code_history"][0]["because"].startswith("test_only_edited/simple_spread/seed0 reran on this code")
    rerun = json.loads((runs / "random" / "simple_spread" / "seed2" / "cell.json").read_text())
    assert "code_history" not in rerun  # it ran again rather than being accepted
    assert (out / "tiny_code.md").is_file()
