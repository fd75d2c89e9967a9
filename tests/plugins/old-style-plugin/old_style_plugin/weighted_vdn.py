"""Q_tot = sum_i w_i Q_i with one learned positive weight per agent, written for marlzoo 0.1:
it imports the Q-learning core from its 0.1 path."""

import torch
from torch import nn

from marlzoo.qlearning import QLearner


class PositiveWeights(nn.Module):
    def __init__(self, n_agents: int) -> None:
        super().__init__()
        self.log_w = nn.Parameter(torch.zeros(n_agents))

    def forward(self, agent_qs, state):
        return (agent_qs * self.log_w.exp()).sum(dim=-1, keepdim=True)


class WeightedVDN(QLearner):
    def build_mixer(self):
        return PositiveWeights(self.spec.n_agents)
