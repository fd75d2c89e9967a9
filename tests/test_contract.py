"""The plugin contract and the layout: typed bases, refused hooks, old paths, the update schedule,
the core that never imports an algorithm, and no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from torch import nn

import marlzoo
from marlzoo import Algorithm, ReplayAlgorithm, register_algo
from marlzoo.config import load_config
from marlzoo.errors import UserError
from marlzoo.learning.encoders import CNNEncoder
from marlzoo.learning.qlearning import QLearner
from marlzoo.training.schedule import UpdateSchedule
from marlzoo.training.trainer import build_algorithm, make_vector_env
from tests.conftest import REPO

CORE = REPO / "marlzoo"


def core_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in CORE.rglob("*.py")
    )


def test_importing_every_core_module_imports_no_algorithm(tmp_path):
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'algos' or m.startswith(('algos.', 'marlzoo.algos'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the core imported algorithm modules: {result.stdout}"


def _imports(path: Path, package: str) -> set[str]:
    """Every marlzoo module ``path`` imports, anywhere in the file, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("marlzoo")}


def test_the_core_has_no_import_cycles():
    modules = core_modules()
    graph = {}
    for name in modules:
        path = REPO / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _imports(path, package) if m in graph or m in modules} - {name}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            parent_of = nxt == node.rpartition(".")[0] or node.startswith(nxt + ".")
            if parent_of:  # a package's own __init__ is imported with it; not a cycle of ours
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in modules:
        if name not in state:
            visit(name, [name])


def test_importing_marlzoo_does_not_import_torch(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import sys, marlzoo; print('torch' in sys.modules)"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.stdout.strip() == "False", result.stderr


def test_old_module_paths_resolve_to_the_moved_modules_with_a_warning(tmp_path):
    sys.modules.pop("marlzoo.qlearning", None)
    with pytest.warns(DeprecationWarning, match="'marlzoo.qlearning' moved to 'marlzoo.learning.qlearning'"):
        from marlzoo.qlearning import QLearner as old  # noqa: PLC0415
    assert old is QLearner, "one class, not a second copy"
    sys.modules.pop("algos", None)
    sys.modules.pop("algos.vdn", None)
    result = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c",
         "import marlzoo; from algos.vdn import VDN; import marlzoo.algos.vdn as v; print(VDN is v.VDN)"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.stdout.strip() == "True", result.stderr
    assert "'algos' moved to 'marlzoo.algos'" in result.stderr


@pytest.mark.slow
def test_the_readme_notebook_snippet_run_beside_the_clone_stops_with_a_line_that_says_what_to_do(tmp_path):
    (tmp_path / "marlzoo").symlink_to(REPO, target_is_directory=True)  # a clone named marlzoo, seen from above
    blocks = (REPO / "README.md").read_text().split("```python\n")
    (snippet,) = [b.split("```")[0] for b in blocks if "register_algo(" in b.split("```")[0]]
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "not the installed package" in last and "start Python in another folder" in last


def test_a_0_1_style_algorithm_is_adapted_with_a_warning_and_learns_once_per_episode(tmp_path):
    calls = []

    class Old(Algorithm):
        buffer = "episodes"
        action_kinds = ("discrete",)

        def act(self, obs, avail, hidden, *, explore, t_env):
            return torch.zeros(avail.shape[:2], dtype=torch.long), hidden

        def learn(self, buffer, t_env):
            calls.append(buffer.size)
            return {"loss/old": 1.0}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.warns(DeprecationWarning, match="subclass marlzoo.ReplayAlgorithm instead"):
        register_algo("test_only_old_style")(Old)
    info = marlzoo.train("test_only_old_style", "simple_spread", steps=100, wandb="disabled", progress=False,
                         sets=["n_envs=2", "test_interval=100", "test_episodes=2"], run_dir=str(tmp_path))
    assert calls == [2, 2, 4, 4], "one learn per episode collected (2 copies, 2 collections), as 0.1 called it"
    assert info["final_metrics"]["loss/old"] == 1.0


def test_the_update_schedule_grants_fractional_updates_exactly_whatever_the_copies():
    every_third = UpdateSchedule(Fraction(1, 3))
    assert [every_third.updates_for(8) for _ in range(6)] == [2, 3, 3, 2, 3, 3]  # 16 updates for 48 episodes
    assert UpdateSchedule(1).updates_for(256) == 256
    assert UpdateSchedule(0).updates_for(8) == 0
    with pytest.raises(UserError):
        UpdateSchedule(-1)


class _FlatMixer(nn.Module):
    def forward(self, agent_qs, state):
        return agent_qs.sum(-1)  # [B, T]: the trailing 1 is missing


def test_a_mixer_of_the_wrong_shape_is_refused_in_one_line(cli_main, tmp_path):
    @register_algo("test_only_flat_mixer")
    class FlatMix(QLearner):
        def build_mixer(self):
            return _FlatMixer()

    code, _, err = cli_main("run", "--algo", "test_only_flat_mixer", "--env", "simple_spread", "--steps", "100",
                            "--wandb", "disabled", "--no-progress", "--run-dir", str(tmp_path),
                            "--set", "n_envs=2", "--set", "algo.batch_size=2")
    assert code == 2
    assert err.count("\n") == 1 and "a mixer maps q [B, T, n_agents]" in err and "to [B, T, 1] (2, 25, 1)" in err


@pytest.mark.parametrize("algo", ["mappo", "ippo", "maddpg", "qmix"])
def test_every_algorithm_gets_the_cnn_encoder_on_images(algo):
    pytest.importorskip("pettingzoo.butterfly")
    config = load_config(algo, "pistonball", sets=["wandb.mode=disabled", "algo.agent.encoder.kind=cnn"])
    venv = make_vector_env(config, 1)
    try:
        built = build_algorithm(config, venv.spec)
        actor = getattr(built, "actor", None) or built.agent
        assert isinstance(actor.encoder, CNNEncoder)
        obs, avail = torch.from_numpy(venv.obs), torch.from_numpy(venv.avail)
        actions, _ = built.act(obs, avail, built.init_hidden(1), explore=True, t_env=0)
        assert actions.shape[:2] == (1, venv.spec.n_agents)
    finally:
        venv.close()
    if algo == "ippo":
        assert isinstance(built.critic.encoder, CNNEncoder), "IPPO's critic sees the images too"


def test_algorithm_files_have_no_action_kind_branches():
    for path in (REPO / "algos").glob("*.py"):
        text = path.read_text()
        for needle in ("self.discrete", 'action_kind == "discrete"', "action_kind == 'continuous'"):
            assert needle not in text, f"{path.name} branches on the action kind ({needle}); use the action head"


def test_replay_and_rollout_bases_are_what_the_builtins_subclass():
    from marlzoo.registry import algo_names, get_algo

    for name in algo_names():
        cls = get_algo(name)
        assert issubclass(cls, (ReplayAlgorithm, marlzoo.RolloutAlgorithm)), name
