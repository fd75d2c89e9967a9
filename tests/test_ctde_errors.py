"""Bad input to the actor-critics: one clear line on stderr and exit code 2, nothing left on disk."""

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlzoo.cli import main


class TwoAgentEnv(ParallelEnv):
    """A tiny real ParallelEnv whose two agents have the action spaces it is given."""

    metadata = {"name": "two_agent_v0"}

    def __init__(self, action_spaces, max_cycles=5):
        self.possible_agents = ["a", "b"]
        self._act = dict(zip(self.possible_agents, action_spaces))
        self.max_cycles = max_cycles

    def observation_space(self, agent):
        return spaces.Box(-1.0, 1.0, (3,), np.float32)

    def action_space(self, agent):
        return self._act[agent]

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: np.zeros(3, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        done = self.t >= self.max_cycles
        obs = {a: np.zeros(3, np.float32) for a in self.agents}
        rewards = {a: 0.0 for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, {a: {} for a in obs}


def mixed_env():
    return TwoAgentEnv([spaces.Discrete(3), spaces.Box(-1.0, 1.0, (2,), np.float32)])


def unbounded_env():
    return TwoAgentEnv([spaces.Box(-np.inf, np.inf, (2,), np.float32)] * 2)


def run(capsys, tmp_path, *args):
    code = main(["run", "--wandb", "disabled", "--no-progress", "--steps", "50", "--run-dir", str(tmp_path / "runs"),
                 *args])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("algo", ["mappo", "maddpg"])
def test_an_env_mixing_discrete_and_continuous_agents_is_refused(capsys, tmp_path, algo):
    code, err = run(capsys, tmp_path, "--algo", algo, "--env", "test_ctde_errors:mixed_env")
    assert code == 2 and len(err.splitlines()) == 1
    assert "mixes discrete and continuous agents" in err
    assert not any((tmp_path / "runs").glob("*"))


@pytest.mark.parametrize("algo", ["mappo", "ippo", "maddpg"])
def test_an_actor_critic_refuses_box_actions_without_finite_bounds(capsys, tmp_path, algo):
    code, err = run(capsys, tmp_path, "--algo", algo, "--env", "test_ctde_errors:unbounded_env")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"algorithm '{algo}'" in err and "unbounded actions" in err and "finite bounds" in err
    assert not any((tmp_path / "runs").glob("*"))


@pytest.mark.parametrize("algo", ["qmix", "vdn", "idqn"])
def test_continuous_simple_spread_is_refused_by_a_discrete_only_algorithm(capsys, tmp_path, algo):
    code, err = run(capsys, tmp_path, "--algo", algo, "--env", "simple_spread",
                    "--set", "env.kwargs.continuous_actions=true")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"algorithm '{algo}' needs discrete actions" in err and "continuous" in err
    assert not any((tmp_path / "runs").glob("*"))
