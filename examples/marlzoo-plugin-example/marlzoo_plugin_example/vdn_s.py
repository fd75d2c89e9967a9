"""VDN-S: the sum of the agents' Qs plus a state-dependent value, Q_tot = sum_i Q_i + V(s).

It reuses marlzoo's Q-learning core, so the whole algorithm is its mixer.
"""

from dataclasses import dataclass

import torch
from torch import nn

from marlzoo.learning.qlearning import QLearner, QLearningConfig


@dataclass
class VDNSConfig(QLearningConfig):
    state_value_hidden: int = 64


class SumPlusStateValue(nn.Module):
    def __init__(self, state_dim: int, hidden: int) -> None:
        super().__init__()
        self.value = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return agent_qs.sum(dim=-1, keepdim=True) + self.value(state)


class VDNS(QLearner):
    Config = VDNSConfig

    def build_mixer(self) -> nn.Module:
        return SumPlusStateValue(self.spec.state_dim, self.config.state_value_hidden)
