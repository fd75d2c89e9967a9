"""A non-editable install (a wheel) carries its YAML configs and algorithms inside the marlzoo package, and
runs without the source tree."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytest.importorskip("setuptools", reason="building the wheel without isolation needs setuptools")

SOURCES = ["setup.cfg", "pyproject.toml", "README.md", "marlzoo", "algos", "configs"]
PROBE = """
import json, sys
import marlzoo, marlzoo.config
from marlzoo.cli import main
code = main(["run", "--algo", "vdn", "--env", "simple_spread", "--steps", "200", "--wandb", "disabled",
             "--no-progress", "--set", "test_interval=200", "--set", "test_episodes=2", "--run-dir", sys.argv[1]])
print(json.dumps({"package": marlzoo.__file__, "configs": str(marlzoo.config.CONFIG_DIR), "code": code}))
"""


@pytest.mark.slow
def test_wheel_install_finds_its_configs(tmp_path):
    source = tmp_path / "source"  # a copy, so that building writes nothing into the repository
    source.mkdir()
    for name in SOURCES:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, source / name)
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    shutil.rmtree(source)  # the installed copy must not lean on a source tree

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "runs")], capture_output=True, text=True,
                           cwd=elsewhere, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(str(target.resolve())), "the installed copy, not the repository's, was imported"
    installed = target.resolve() / "marlzoo" / "configs"  # the package resource marlzoo.configs
    assert found["configs"] == str(installed)
    shipped = sorted(p.relative_to(REPO / "configs") for p in (REPO / "configs").rglob("*.yaml"))
    assert sorted(p.relative_to(installed) for p in installed.rglob("*.yaml")) == shipped, "every config file ships"
    assert found["code"] == 0
    assert (target / "marlzoo" / "algos" / "qmix.py").is_file(), "the built-in algorithms install as marlzoo.algos"
    assert not (target / "algos").exists() and not (target / "share").exists(), "nothing generic at the top level"
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    assert "lr: 0.001" in (run_dir / "config.yaml").read_text(), "configs/algos/vdn.yaml was applied"
