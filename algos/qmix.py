"""QMIX: monotonic value function factorisation (Rashid et al., 2018).

QMIX replaces VDN's sum with a mixing network whose weights are produced from the global state by
hypernetworks. Taking the absolute value of those weights makes Q_tot monotonic in every agent's
Q_i (dQ_tot/dQ_i >= 0), so the per-agent argmaxes still give the joint argmax, while the mixing
itself can depend non-linearly on the state:

    hidden = elu(q @ |W1(s)| + b1(s))          W1(s): [n_agents, embed], b1(s): [embed]
    Q_tot  = hidden @ |W2(s)| + V(s)           W2(s): [embed, 1],  V(s): a 2-layer net to a scalar

The target is the same mixer with target weights, fed the target agents' values at s'.
"""

from dataclasses import dataclass

import torch
from torch import nn

from marlzoo.learning.qlearning import QLearner, QLearningConfig


@dataclass
class QMIXConfig(QLearningConfig):
    mixing_embed_dim: int = 32  # width of the mixing network's hidden layer
    hypernet_hidden: int = 64  # width of the hypernetworks' hidden layer


def hypernet(state_dim: int, hidden: int, out: int) -> nn.Sequential:
    """A 2-layer network from the state to ``out`` mixing weights."""
    return nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, out))


class QMixer(nn.Module):
    """Mixes ``agent_qs [B, T, n_agents]`` into ``Q_tot [B, T, 1]``, monotonically, given ``state``."""

    def __init__(self, n_agents: int, state_dim: int, embed: int = 32, hypernet_hidden: int = 64) -> None:
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        self.hyper_w1 = hypernet(state_dim, hypernet_hidden, n_agents * embed)
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.hyper_w2 = hypernet(state_dim, hypernet_hidden, embed)
        self.hyper_v = hypernet(state_dim, embed, 1)

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        lead = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, self.n_agents, 1)
        s = state.reshape(qs.shape[0], -1)
        # Per-sample matrix products written as broadcast multiply-and-sum: on a CPU this is
        # several times faster than bmm over thousands of tiny matrices.
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed)
        hidden = nn.functional.elu((qs * w1).sum(dim=1) + self.hyper_b1(s))
        w2 = self.hyper_w2(s).abs()
        q_tot = (hidden * w2).sum(dim=1, keepdim=True) + self.hyper_v(s)
        return q_tot.view(*lead, 1)


class QMIX(QLearner):
    """Q-learning on a state-conditioned monotonic mix of the agents' Qs."""

    Config = QMIXConfig

    def build_mixer(self) -> nn.Module:
        return QMixer(
            self.spec.n_agents, self.spec.state_dim, self.config.mixing_embed_dim, self.config.hypernet_hidden
        )
