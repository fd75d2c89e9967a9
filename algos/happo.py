"""HAPPO: heterogeneous-agent proximal policy optimisation (Kuba et al., ICLR 2022).

Each agent has an actor of its own (no parameter sharing by default, so agents may differ in what
they see and do) and one critic values the global state, ``V(s)``. After GAE advantages ``A_t`` of
the rollout, the agents are updated one at a time, in a fresh random order ``i_1, ..., i_n`` every
iteration. Agent ``i_m`` takes PPO's clipped objective with its advantage weighted by how far the
agents updated before it have already moved their policies on each sample:

    M_t   = prod_{j < m} pi_new^{i_j}(a_t^{i_j} | o_t^{i_j}) / pi_old^{i_j}(a_t^{i_j} | o_t^{i_j})   (1 for i_1)
    r_t   = pi^{i_m}(a_t^{i_m} | o_t^{i_m}) / pi_old^{i_m}(a_t^{i_m} | o_t^{i_m})
    L^{i_m} = -min(r_t M_t A_t, clip(r_t, 1 - eps, 1 + eps) M_t A_t) - c_ent * entropy^{i_m}

When agent ``i_m``'s epochs are done, its final ratio joins ``M`` for the next agent. The sequential
update is what gives HAPPO its monotonic-improvement guarantee without assuming agents share
parameters. The critic then learns as MAPPO's does (clipped Huber loss on normalised returns).
Only agent ``i_m``'s parameters move in its update (its body and, for Box actions, its own
log-std); a CNN encoder for image observations is shared by all actors and moves with each.

Defaults follow HARL's happo.yaml: Adam at 5e-4 for actors and critic, 5 epochs of one minibatch,
clip 0.2, entropy 0.01, Huber delta 10 with the clipped value loss, gamma 0.99, lambda 0.95,
gradient norm 10, value normalisation, rollouts of 200 steps, hidden layers of 128, separate
actors, an initial Gaussian std of 0.5. Not taken: HARL's orthogonal initialisation and input
layer norm (marlzoo's networks are the same for every algorithm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from marlzoo.algos.mappo import MAPPO, MAPPOConfig
from marlzoo.learning.actor_critic import masked_mean
from marlzoo.learning.heads import ActionHead, make_action_head
from marlzoo.learning.nets import AgentNetConfig
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class HAPPOConfig(MAPPOConfig):
    """HAPPO's hyperparameters (the ``algo:`` section); configs/algos/happo.yaml tunes them for small budgets."""

    lr: float = 5e-4
    critic_lr: float = 5e-4
    rollout_length: int = 200
    epochs: int = 5
    log_std_init: float = math.log(0.5)
    agent: AgentNetConfig = field(default_factory=lambda: AgentNetConfig(hidden=128, share_params=False))
    critic: AgentNetConfig = field(default_factory=lambda: AgentNetConfig(hidden=128, agent_id=False))  # V(s)


class HAPPO(MAPPO):
    """Sequential PPO updates of separate actors, each weighted by its predecessors' ratio product."""

    Config = HAPPOConfig

    def build_head(self) -> ActionHead:
        return make_action_head(self.spec, self.config.log_std_init, self.device, per_agent=True)

    def agent_params(self, agent: int) -> list[nn.Parameter]:
        """What agent ``agent``'s update may move: its body, its log-std, and any shared encoder."""
        if len(self.actor.bodies) == 1:  # share_params: every agent's update moves the one actor
            return self.actor_params
        own = list(self.actor.bodies[agent].parameters())
        if self.actor.encoder is not None:
            own += list(self.actor.encoder.parameters())
        if getattr(self.head, "log_stds", None) is not None:
            own.append(self.head.log_stds[agent])
        return own

    @torch.no_grad()
    def ratio(self, agent: int, data: dict[str, torch.Tensor], buffer: RolloutBuffer) -> torch.Tensor:
        """``pi_new / pi_old`` of ``agent``'s actions on every step ``[T, B]`` (1 where it is not alive)."""
        log_prob, _ = self.policy_outputs(data["obs"], data["avail"], data["actions"], data["starts"], buffer.hidden0)
        r = torch.exp(log_prob[..., agent] - data["log_prob"][..., agent])
        return torch.where(buffer.alive[..., agent], r, torch.ones_like(r))

    def update_agent(self, agent: int, factor: torch.Tensor, data: dict[str, torch.Tensor],
                     buffer: RolloutBuffer) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``agent``'s PPO epochs with advantages ``factor * A``. Returns its mean policy loss and
        entropy, and the last minibatch's log-ratios and mask (for the drift metrics)."""
        own, sums, n = self.agent_params(agent), torch.zeros(2), 0
        for mb, hidden0 in self.minibatches(buffer, {**data, "factor": factor}):
            log_prob, entropy = self.policy_outputs(mb["obs"], mb["avail"], mb["actions"], mb["starts"], hidden0)
            m = mb["mask"][..., agent]
            log_ratio = log_prob[..., agent] - mb["log_prob"][..., agent]
            policy_loss = self.policy_loss(log_ratio, mb["factor"] * mb["advantages"][..., agent], m)
            entropy_mean = masked_mean(entropy[..., agent], m)
            self.optimise(policy_loss - self.config.entropy_coef * entropy_mean, only=own)
            sums += torch.stack([policy_loss.detach(), entropy_mean.detach()])
            n += 1
        return sums / n, (log_ratio.detach(), m)

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        self.anneal_learning_rates(t_env - buffer.length * buffer.n_envs)
        data = self.rollout_data(buffer)
        factor = torch.ones(buffer.length, buffer.n_envs, device=self.device)  # M: 1 for the first agent
        actor_sums = torch.zeros(2)
        for agent in torch.randperm(self.spec.n_agents).tolist():
            means, last = self.update_agent(agent, factor, data, buffer)
            actor_sums += means
            factor = factor * self.ratio(agent, data, buffer)
        value_sum, n = 0.0, 0
        for mb, hidden0 in self.minibatches(buffer, data):
            v = self.values(mb["obs"], mb["state"], mb["starts"], hidden0)
            value_loss = self.value_loss(v, mb["targets"], mb["old_values"], mb["mask"])
            self.optimise(value_loss)
            value_sum, n = value_sum + float(value_loss.detach()), n + 1
        self.updates += 1
        policy, entropy = (actor_sums / self.spec.n_agents).tolist()
        return {"loss/policy": policy, "loss/value": value_sum / n, "loss/entropy": entropy,
                "loss/factor_mean": float(masked_mean(factor, buffer.alive.all(-1).float())),
                **self.drift(*last)}
