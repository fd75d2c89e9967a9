"""VDN: value decomposition networks (Sunehag et al., 2018).

The team's value is the sum of the agents' values, ``Q_tot(s, u) = sum_i Q_i(o_i, u_i)``, and the
TD error is taken on Q_tot. Because the sum is monotonic in every Q_i, each agent's greedy action
is the team's greedy action: decentralised execution stays consistent with centralised training.
"""

import torch
from torch import nn

from marlzoo.learning.qlearning import QLearner


class SumMixer(nn.Module):
    """Q_tot as the plain sum of the agents' chosen Qs; it has no parameters."""

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return agent_qs.sum(dim=-1, keepdim=True)


class VDN(QLearner):
    """Q-learning on the sum of the agents' Qs."""

    def build_mixer(self) -> nn.Module:
        return SumMixer()
