"""QPLEX: duplex dueling multi-agent Q-learning (Wang et al., ICLR 2021).

QMIX keeps the agents' greedy actions the team's greedy action by making Q_tot monotonic in each
Q_i, which also limits what Q_tot can represent. QPLEX keeps only what that consistency (IGM) needs,
written in advantages: the greedy joint action is the argmax of Q_tot exactly when every agent's
advantage A_i = Q_i - V_i is 0 there and the others weigh in with a positive weight. So

    V_i(s) = w_i(s) max_a Q_i(o_i, a) + b_i(s),   A_i(s, u_i) = w_i(s) (Q_i(o_i, u_i) - max_a Q_i(o_i, a))
    Q_tot(s, u) = sum_i V_i(s) + sum_i lambda_i(s, u) A_i(s, u_i)            w_i > 0, lambda_i > 0
    lambda_i(s, u) = sum_k |key_k(s)| sigmoid(agent_k(s))_i sigmoid(action_k(s, u))_i     (K heads)

Every A_i <= 0, with equality at agent i's greedy action, so the per-agent argmaxes maximise Q_tot,
while lambda, which reads the joint action, lets Q_tot rank the other joint actions in any order
(the full IGM class; e.g. the non-monotonic matrix game). As in the authors' code, the advantage is
a constant in lambda_i A_i (gradients reach the Q_i through sum_i V_i + A_i only, and lambda through
its weights). The loss is the core's TD error on Q_tot, with the target mixer at the next greedy u'.
Here the key, agent and action extractors are linear, with K = 4 heads: the authors' SMAC config.
"""

from dataclasses import dataclass

import torch
from torch import nn

from marlzoo.algos.qmix import hypernet
from marlzoo.learning.qlearning import QLearner, QLearningConfig, chosen_q, masked_max


@dataclass
class QPLEXConfig(QLearningConfig):
    hypernet_hidden: int = 64  # width of the hypernetworks that give w_i(s) and b_i(s)
    attention_heads: int = 4  # K: heads of the attention that gives lambda_i(s, u)

    def __post_init__(self) -> None:
        if self.attention_heads < 1:
            raise ValueError(f"attention_heads must be at least 1, not {self.attention_heads}")


class DuplexMixer(nn.Module):
    """Q_tot ``[..., 1]`` from the agents' chosen ``Q_i(u_i)`` and greedy ``max_a Q_i`` ``[..., n_agents]``,
    the one-hot joint action ``[..., n_agents * n_actions]`` and the state ``[..., S]``."""

    def __init__(self, n_agents: int, n_actions: int, state_dim: int, hypernet_hidden: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.n_agents, self.heads = n_agents, heads
        self.hyper_w = hypernet(state_dim, hypernet_hidden, n_agents)
        self.hyper_b = hypernet(state_dim, hypernet_hidden, n_agents)
        self.key = nn.Linear(state_dim, heads)
        self.agent_attention = nn.Linear(state_dim, heads * n_agents)
        self.action_attention = nn.Linear(state_dim + n_agents * n_actions, heads * n_agents)

    def lambdas(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The advantages' weights lambda_i(s, u) ``[..., n_agents]``, each > 0."""
        heads = (*state.shape[:-1], self.heads, self.n_agents)
        key = self.key(state).abs().unsqueeze(-1) + 1e-10
        agent = torch.sigmoid(self.agent_attention(state)).view(heads)
        action = torch.sigmoid(self.action_attention(torch.cat([state, actions], dim=-1))).view(heads)
        return (key * agent * action).sum(dim=-2)

    def forward(self, chosen: torch.Tensor, best: torch.Tensor, actions: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        w = self.hyper_w(state).abs() + 1e-10
        q = w * chosen + self.hyper_b(state)  # V_i + A_i: the transformed Q_i(u_i)
        advantage = (w * (chosen - best)).detach()
        q_tot = q.sum(dim=-1) + ((self.lambdas(state, actions) - 1.0) * advantage).sum(dim=-1)
        return q_tot.unsqueeze(-1)  # = sum_i V_i + sum_i lambda_i A_i


class QPLEX(QLearner):
    """Q-learning on a duplex dueling mix: the agents' values plus their advantages weighted by the joint action."""

    Config = QPLEXConfig

    def build_mixer(self) -> nn.Module:
        spec, cfg = self.spec, self.config
        return DuplexMixer(spec.n_agents, spec.n_actions, spec.state_dim, cfg.hypernet_hidden, cfg.attention_heads)

    def q_tot(self, mixer: nn.Module, q_all: torch.Tensor, actions: torch.Tensor, state: torch.Tensor,
              avail: torch.Tensor | None = None, alive: torch.Tensor | None = None) -> torch.Tensor:
        """The duplex mixer reads each agent's greedy value and the joint action besides its Q_i(u_i);
        departed agents give 0 to all three."""
        best = q_all.max(dim=-1).values if avail is None else masked_max(q_all, avail)
        onehot = nn.functional.one_hot(actions, self.spec.n_actions).float()
        if alive is not None:
            best, onehot = best * alive.float(), onehot * alive.unsqueeze(-1)
        return mixer(chosen_q(q_all, actions, alive), best, onehot.flatten(-2), state)
