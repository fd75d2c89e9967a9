"""QTRAN: learning to factorise with transformation (Son et al., 2019); QTRAN-base, and QTRAN-alt as an option.

VDN and QMIX make Q_tot additive or monotonic in the Q_i, so the agents' greedy actions are the
team's greedy action by construction, but they cannot represent payoffs such as the non-monotonic
matrix game. QTRAN learns the joint value without any such constraint and then asks the Q_i only
to pick the same greedy action:

* a joint action-value network Q_jt(s, u), trained by TD on the team reward
  (target: r + gamma * Q_jt^target(s', u') at the agents' greedy next actions u');
* a state-value network V_jt(s), which absorbs the gap between sum_i Q_i and Q_jt;
* the agents' Q_i(o_i, a_i), trained so that the transformed value Q'(s, u) = sum_i Q_i(o_i, u_i)
  satisfies  Q' - Q_jt + V_jt = 0 at the greedy joint action u_bar (L_opt), and  >= 0 elsewhere (L_nopt).

    L = L_td + lambda_opt * L_opt + lambda_nopt * L_nopt
    L_td   = (Q_jt(s, u) - y)^2
    L_opt  = (Q'(s, u_bar) - stop_grad Q_jt(s, u_bar) + V_jt(s))^2
    L_nopt = min(Q'(s, u) - stop_grad Q_jt(s, u) + V_jt(s), 0)^2      for the actions u taken

Together the two conditions make u_bar, the argmax of every Q_i, the argmax of Q_jt. Here Q_jt and
V_jt read the global state and the one-hot joint action directly (the paper feeds them the agents'
hidden features; the state is what centralised training has in this framework). Everything else,
acting, replay, targets and double Q, is the shared Q-learning core.

``variant: alt`` is QTRAN-alt: L_nopt becomes L_nopt-min, which looks at every agent's possible
deviations rather than only at the joint action taken. For each agent i, with the others' taken
actions u_-i fixed, it holds  min over u_i of  Q'(s, u_i, u_-i) - Q_jt(s, u_i, u_-i) + V_jt(s)  at 0.
Each agent then gets a signal about its own actions, which base's single joint action does not give;
on simple_spread, base barely learns in 20k steps while alt does (figures in the README).
"""

from dataclasses import dataclass

import torch
from torch import nn

from marlzoo.training.buffers import EpisodeBatch
from marlzoo.learning.exploration import masked_argmax
from marlzoo.learning.qlearning import QLearner, QLearningConfig, td_targets


@dataclass
class QTRANConfig(QLearningConfig):
    lambda_opt: float = 1.0  # weight of L_opt: sum Q_i matches Q_jt - V_jt at the greedy joint action
    lambda_nopt: float = 1.0  # weight of L_nopt: sum Q_i stays above Q_jt - V_jt at other joint actions
    joint_hidden: int = 64  # width of the Q_jt and V_jt networks
    variant: str = "base"  # "base": L_nopt on the actions taken; "alt": L_nopt-min over each agent's deviations

    def __post_init__(self) -> None:
        if self.variant not in ("base", "alt"):
            raise ValueError(f"variant must be 'base' or 'alt', not '{self.variant}'")


def _mlp(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class JointValues(nn.Module):
    """Q_jt(s, u) from the state and the one-hot joint action, and V_jt(s) from the state."""

    def __init__(self, n_agents: int, n_actions: int, state_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.q_net = _mlp(state_dim + n_agents * n_actions, hidden)
        self.v_net = _mlp(state_dim, hidden)

    def q(self, state: torch.Tensor, actions: torch.Tensor, alive: torch.Tensor | None = None) -> torch.Tensor:
        """``state [..., S]``, ``actions [..., n_agents]`` (long) -> Q_jt ``[...]``; departed agents' actions are zeroed."""
        onehot = nn.functional.one_hot(actions, self.n_actions).float()
        if alive is not None:
            onehot = onehot * alive.unsqueeze(-1)
        return self.q_net(torch.cat([state, onehot.flatten(-2)], dim=-1)).squeeze(-1)

    def v(self, state: torch.Tensor) -> torch.Tensor:
        return self.v_net(state).squeeze(-1)

    forward = q


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the true entries of ``mask``; padding contributes exactly 0."""
    return torch.where(mask, values, torch.zeros_like(values)).sum() / mask.sum().clamp_min(1)


class QTRAN(QLearner):
    """Q-learning of an unconstrained Q_jt, with the agents' Q_i held to its greedy action."""

    Config = QTRANConfig

    def build_mixer(self) -> nn.Module:
        spec = self.spec
        return JointValues(spec.n_agents, spec.n_actions, spec.state_dim, self.config.joint_hidden)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        joint, cfg = self.mixer, self.config
        q_all, target_all = self.unroll_agents(batch)
        alive, avail = batch.alive[:, :-1], batch.avail[:, :-1]
        state = batch.state[:, :-1]
        q_now = q_all[:, :-1]

        # The transformed value sum_i Q_i at the actions taken and at the agents' greedy actions.
        greedy = masked_argmax(q_now.detach(), avail)
        q_taken = q_now.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        q_greedy = q_now.gather(-1, greedy.unsqueeze(-1)).squeeze(-1)
        transformed_taken = (q_taken * alive).sum(-1)
        transformed_greedy = (q_greedy * alive).sum(-1)

        # Q_jt at the taken and at the greedy joint actions in one forward pass; only the first is trained.
        both = joint.q(state.expand(2, *state.shape), torch.stack([batch.actions, greedy]), alive.expand(2, *alive.shape))
        q_jt, q_jt_greedy = both[0], both[1].detach()
        v_jt = joint.v(state)

        with torch.no_grad():
            next_u = self.next_greedy_actions(q_all, target_all, batch.avail[:, 1:])
            next_q_jt = self.target_mixer.q(batch.state[:, 1:], next_u, batch.alive[:, 1:])
            targets = td_targets(self.rewards(batch), batch.terminated, next_q_jt.unsqueeze(-1), cfg.gamma).squeeze(-1)

        filled = batch.filled
        l_td = _masked_mean((q_jt - targets).pow(2), filled)
        l_opt = _masked_mean((transformed_greedy - q_jt_greedy + v_jt).pow(2), filled)
        if cfg.variant == "alt":
            l_nopt = self.nopt_min_loss(batch, q_now, q_taken, transformed_taken, v_jt)
        else:
            l_nopt = _masked_mean((transformed_taken - q_jt.detach() + v_jt).clamp(max=0.0).pow(2), filled)
        loss = l_td + cfg.lambda_opt * l_opt + cfg.lambda_nopt * l_nopt
        return loss, {
            "loss/td": float(l_td.detach()),
            "loss/opt": float(l_opt.detach()),
            "loss/nopt": float(l_nopt.detach()),
            "loss/q_taken_mean": float(_masked_mean(q_jt.detach(), filled)),
            "loss/target_mean": float(_masked_mean(targets, filled)),
        }

    def nopt_min_loss(self, batch: EpisodeBatch, q_now: torch.Tensor, q_taken: torch.Tensor,
                      transformed_taken: torch.Tensor, v_jt: torch.Tensor) -> torch.Tensor:
        """QTRAN-alt's L_nopt-min: for each agent i, with the others' taken actions u_-i fixed,
        ``min over u_i of Q'(s, u_i, u_-i) - Q_jt(s, u_i, u_-i) + V_jt(s)`` is held at 0."""
        B, T, N, A = q_now.shape
        alive, avail = batch.alive[:, :-1], batch.avail[:, :-1]
        own = torch.eye(N, dtype=torch.bool).view(N, 1, N)  # [agent i, 1, agent j]: is j the deviating agent
        counterfactual = torch.where(own, torch.arange(A).view(1, A, 1), batch.actions[:, :, None, None, :])
        with torch.no_grad():
            state = batch.state[:, :-1, None, None, :].expand(B, T, N, A, -1)
            q_jt = self.mixer.q(state, counterfactual, alive[:, :, None, None, :].expand(B, T, N, A, N))
        alive_f = alive.float()
        transformed = (transformed_taken[..., None, None] - (q_taken * alive_f)[..., None]) + q_now * alive_f[..., None]
        gap = (transformed - q_jt + v_jt[..., None, None]).masked_fill(~avail, float("inf"))
        return _masked_mean(gap.min(dim=-1).values.pow(2), batch.filled[..., None] & alive)

    def joint_values(self, agent_q: torch.Tensor, joint: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Q_tot is Q_jt(s, u) itself: the unconstrained joint value, not a mix of the Q_i."""
        return self.mixer.q(state.expand(len(joint), -1), joint)
