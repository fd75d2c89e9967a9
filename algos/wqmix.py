"""Weighted QMIX: CW-QMIX and OW-QMIX (Rashid et al., NeurIPS 2020).

QMIX fits its monotonic Q_tot to the TD targets with the same weight at every joint action, so under
uniform data the best monotonic fit of a non-monotonic payoff can rank the optimum anywhere (see
results/matrix_games.md). Weighted QMIX weights that fit towards the joint actions that matter, and
takes the targets from an unrestricted joint value Q*, learnt beside it:

    y          = r + gamma * Q*_target(s', u'),      u' = the QMIX agents' greedy joint action at s'
    L          = w(s, u) (Q_tot(s, u) - y)^2 + (Q*(s, u) - y)^2
    Q*(s, u)   = f(s, q*_1(o_1, u_1), ..., q*_n(o_n, u_n))      f: a feed-forward net, not monotonic;
                                                                q*_i: an agent network of its own
    OW-QMIX:   w = 1 if Q_tot(s, u) < y,                  else alpha    (optimistic)
    CW-QMIX:   w = 1 if u = u_hat or y > Q*_target(s, u_hat), else alpha   (centralised; u_hat: the
               QMIX agents' greedy joint action at s)

With alpha < 1 the error of overestimated (OW) or of worse-than-greedy (CW) joint actions counts
less, so Q_tot can fit the joint actions that could be optimal, and their argmax moves there. The
agents act greedily on their QMIX Q_i, as in QMIX; Q* only trains and shapes the targets.
"""

from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from marlzoo.algos.qmix import QMIX, QMIXConfig
from marlzoo.learning.exploration import masked_argmax
from marlzoo.learning.nets import build_network
from marlzoo.learning.qlearning import td_targets
from marlzoo.training.buffers import EpisodeBatch


@dataclass
class WQMIXConfig(QMIXConfig):
    down_weight: float = 0.1  # alpha in the paper (w in its code): the weight of the de-emphasised TD errors
    central_embed_dim: int = 256  # width of Q*'s feed-forward mixer

    def __post_init__(self) -> None:
        if not 0.0 < self.down_weight <= 1.0:
            raise ValueError(f"down_weight must be in (0, 1], not {self.down_weight}")


def optimistic_weights(q_tot: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """OW-QMIX's w: 1 where Q_tot underestimates its target, ``alpha`` where it does not."""
    return torch.where(q_tot < targets, torch.ones_like(q_tot), torch.full_like(q_tot, alpha))


def central_weights(targets: torch.Tensor, q_star_greedy: torch.Tensor, taken_is_greedy: torch.Tensor,
                    alpha: float) -> torch.Tensor:
    """CW-QMIX's w: 1 where the joint action taken is the greedy one or its target beats Q* of the
    greedy one, ``alpha`` elsewhere."""
    keep = taken_is_greedy | (targets > q_star_greedy)
    return torch.where(keep, torch.ones_like(targets), torch.full_like(targets, alpha))


class FeedForwardMixer(nn.Module):
    """Q*(s, u) ``[B, T, 1]`` from the agents' chosen q*_i ``[B, T, n_agents]`` and the state, unconstrained:
    three hidden ReLU layers, plus a state value V(s)."""

    def __init__(self, n_agents: int, state_dim: int, embed: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_dim + n_agents, embed), nn.ReLU(), nn.Linear(embed, embed), nn.ReLU(),
                                 nn.Linear(embed, embed), nn.ReLU(), nn.Linear(embed, 1))
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([state, agent_qs], dim=-1)) + self.value(state)


class WeightedMixers(nn.Module):
    """QMIX's mixer, which gives the policy's Q_tot (``forward``), beside Q*: its agent network and its
    mixer. One module, so the core's target copies, optimiser and checkpoints cover all of them."""

    def __init__(self, qmix: nn.Module, central_agent: nn.Module, central_mixer: nn.Module) -> None:
        super().__init__()
        self.qmix, self.central_agent, self.central_mixer = qmix, central_agent, central_mixer

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.qmix(agent_qs, state)


class WeightedQMIX(QMIX):
    """QMIX fitted with a weighted TD loss to the targets of an unrestricted Q*; subclasses give the weighting."""

    Config = WQMIXConfig

    def build_mixer(self) -> nn.Module:
        spec, cfg = self.spec, self.config
        central_agent = build_network(spec, cfg.agent, spec.n_actions)
        return WeightedMixers(super().build_mixer(), central_agent,
                              FeedForwardMixer(spec.n_agents, spec.state_dim, cfg.central_embed_dim))

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        now, after = slice(None, -1), slice(1, None)
        state, avail, alive = batch.state, batch.avail, batch.alive
        q_all, target_all = self.unroll_agents(batch)
        star_all, _ = self.mixer.central_agent.unroll(batch.obs)
        q_tot = self.q_tot(self.mixer, q_all[:, now], batch.actions, state[:, now], avail[:, now], alive[:, now])
        q_star = self.q_tot(self.mixer.central_mixer, star_all[:, now], batch.actions, state[:, now], avail[:, now], alive[:, now])
        with torch.no_grad():
            target_star_all, _ = self.target_mixer.central_agent.unroll(batch.obs)
            next_u = self.next_greedy_actions(q_all, target_all, avail[:, after])
            next_star = self.q_tot(self.target_mixer.central_mixer, target_star_all[:, after], next_u, state[:, after],
                                   avail[:, after], alive[:, after])
            targets = td_targets(self.rewards(batch), batch.terminated, next_star, self.config.gamma)
            weights = self.weights(batch, q_all, target_star_all, q_tot.detach(), targets)
        qmix_loss, metrics = self.td_loss(q_tot, targets, batch, weights)
        central_loss, central = self.td_loss(q_star, targets, batch)
        filled = batch.filled.unsqueeze(-1)
        metrics.update({"loss/central_td": central["loss/td"],
                        "loss/weight_mean": float(weights[filled].mean()) if filled.any() else 1.0})
        return qmix_loss + central_loss, metrics

    @abstractmethod
    def weights(self, batch: EpisodeBatch, q_all: torch.Tensor, target_star_all: torch.Tensor, q_tot: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """w(s, u) ``[B, T, 1]`` for every step, from the agents' Qs and target Q*'s agent values
        ``[B, T+1, n_agents, n_actions]``, Q_tot and the targets ``[B, T, 1]``."""
        raise NotImplementedError


class OWQMIX(WeightedQMIX):
    """Optimistically weighted QMIX: full weight where Q_tot underestimates the target."""

    def weights(self, batch, q_all, target_star_all, q_tot, targets):
        return optimistic_weights(q_tot, targets, self.config.down_weight)


class CWQMIX(WeightedQMIX):
    """Centrally weighted QMIX: full weight at the greedy joint action and where the target beats Q* of it."""

    def weights(self, batch, q_all, target_star_all, q_tot, targets):
        now = slice(None, -1)
        alive = batch.alive[:, now]
        greedy = masked_argmax(q_all[:, now].detach(), batch.avail[:, now])
        taken_is_greedy = ((batch.actions == greedy) | ~alive).all(dim=-1, keepdim=True)
        q_star_greedy = self.q_tot(self.target_mixer.central_mixer, target_star_all[:, now], greedy, batch.state[:, now],
                                   batch.avail[:, now], alive)
        return central_weights(targets, q_star_greedy, taken_is_greedy, self.config.down_weight)
