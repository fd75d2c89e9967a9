"""COMA: the counterfactual baseline and advantage against a hand-worked example with a tiny critic."""

import math

import pytest
import torch
from torch import nn

from marlzoo.algos.coma import counterfactual_advantage
from marlzoo.config import load_config
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)

# The non-monotonic game's payoff (2 agents, 3 actions), symmetric: payoff[u0][u1].
PAYOFF = torch.tensor([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]])


class TinyCritic(nn.Module):
    """Q_a(s, u^-a, .) = W @ (the joint one-hot, agent a's own block zeroed): no state, no hidden layer.
    W = [PAYOFF | PAYOFF], so agent 0 reads Q_0(., u1) = PAYOFF[:, u1] and agent 1 Q_1(., u0) = PAYOFF[u0, :]."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.cat([PAYOFF, PAYOFF], dim=1)  # [A, n * A]

    def step(self, x, hidden, extra=None):
        return extra @ self.w.T, None


def coma(*sets):
    cfg = load_config("coma", "nonmonotonic", sets=["wandb.mode=disabled", "n_envs=1", "algo.normalise_values=false", *sets])
    venv = make_vector_env(cfg, 1)
    algo = build_algorithm(cfg, venv.spec)
    algo.critic = TinyCritic()
    return venv, algo


def test_counterfactual_baseline_and_advantage_match_a_hand_worked_example():
    venv, algo = coma()
    venv.reset([0])
    state = torch.from_numpy(venv.state)  # [1, S]
    actions = torch.tensor([[0, 1]])  # agent 0 took 0, agent 1 took 1
    pi = torch.tensor([[[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]])
    q = algo.q_values(state, actions)
    # Agent 0: Q_0(., u1 = 1) = [-12, 0, 0]: baseline 0.5 * -12 = -6; Q_0(u0 = 0) = -12; A = -6.
    # Agent 1: Q_1(u0 = 0, .) = [8, -12, -12]: baseline 0.2 * 8 - 0.3 * 12 - 0.5 * 12 = -8; Q_1(u1 = 1) = -12; A = -4.
    assert q[0].tolist() == [[-12.0, 0.0, 0.0], [8.0, -12.0, -12.0]]
    baseline, advantage = counterfactual_advantage(q, pi, actions)
    assert baseline[0].tolist() == pytest.approx([-6.0, -8.0])
    assert advantage[0].tolist() == pytest.approx([-6.0, -4.0])
    # an agent's own action does not enter its own Q: agent 0 switching to 2 leaves Q_0 as it was
    assert algo.q_values(state, torch.tensor([[2, 1]]))[0, 0].tolist() == [-12.0, 0.0, 0.0]


def test_coma_learns_from_that_advantage_and_bootstraps_with_the_baseline():
    # An actor whose last layer gives every agent pi = [0.5, 0.25, 0.25] whatever it sees.
    venv, algo = coma("algo.rollout_length=1", "algo.entropy_coef=0.0")
    out = algo.actor.bodies[0].fc_out
    with torch.no_grad():
        out.weight.zero_()
        out.bias.copy_(torch.tensor([0.5, 0.25, 0.25]).log())
    venv.reset([0])
    state, obs = torch.from_numpy(venv.state), torch.from_numpy(venv.obs)
    # the bootstrap marginalises each agent's own action out: agent 0 against u1 = 0 would be
    # 0.5 * 8 - 0.25 * 12 - 0.25 * 12 = -2, against u1 = 1 or 2 it is -6
    values = torch.stack([algo.value(obs, state, None) for _ in range(50)])
    assert set(values.flatten().tolist()) == {-2.0, -6.0}
    buffer = algo.make_buffer()
    buffer.allocate(1)
    buffer.obs[0], buffer.state[0], buffer.avail[0] = obs, state, torch.from_numpy(venv.avail)
    buffer.actions[0] = torch.tensor([[0, 1]])
    buffer.alive.fill_(True)
    buffer.next_alive.fill_(True)
    buffer.terminated.fill_(True)
    # Agent 0: A = -12 - (-6) = -6. Agent 1: Q_1(u0 = 0, .) = [8, -12, -12], baseline 4 - 3 - 3 = -2, A = -10.
    metrics = algo.learn(buffer, 1)
    assert metrics["loss/advantage_mean"] == pytest.approx(-8.0)
    # the policy loss is -mean(log pi(u_a) A_a) over the two agents
    assert metrics["loss/policy"] == pytest.approx(-(math.log(0.5) * -6.0 + math.log(0.25) * -10.0) / 2)
