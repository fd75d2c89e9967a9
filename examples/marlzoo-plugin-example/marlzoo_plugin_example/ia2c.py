"""IA2C: independent advantage actor-critic, written on marlzoo's on-policy contract.

Each agent acts from its own observation with a shared actor (its one-hot id appended), and a
shared critic values that same observation, ``V(o_i)``: nothing is centralised. One gradient step
per rollout of every env copy, on

    A_t    = GAE(lambda) of the team reward against V, per agent
    L      = -log pi(a_t | o_t) * A_t  -  c_ent * entropy  +  c_v * (V(o_t) - (A_t + V_old))^2

averaged over the steps where the agent is alive. The action head (a masked categorical, or a
squashed Gaussian for Box actions) and the networks come from marlzoo's factories, so the same
file runs on discrete and continuous envs, and on images with a CNN.

marlzoo ships IA2C itself (``--algo ia2c``, algos/ia2c.py): the same method written on marlzoo's
shared actor-critic base (marlzoo.learning.actor_critic), which adds recurrent agents, value
normalisation and learning-rate decay. This file stays as the demonstration of the bare plugin
contract: every hook a RolloutAlgorithm needs, written out in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from marlzoo import PolicyStep, RolloutAlgorithm
from marlzoo.learning.heads import make_action_head
from marlzoo.learning.nets import AgentNetConfig, build_network
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class IA2CConfig:
    # Chosen on simple_spread at 30k env steps, seed 0 (final greedy return): lr 1e-3 with an
    # entropy bonus of 0.01 reached -73.7; lr 3e-3 without one -66.9 (seeds 1 and 2: -61.6, -66.7).
    lr: float = 3e-3
    gamma: float = 0.95
    gae_lambda: float = 0.95
    rollout_length: int = 10  # steps of every env copy per update
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    grad_clip: float = 10.0
    agent: AgentNetConfig = field(default_factory=AgentNetConfig)  # actor and critic alike

    def __post_init__(self) -> None:
        if self.agent.kind != "mlp":
            raise ValueError("this example IA2C has feed-forward networks only (agent.kind: mlp)")


class IA2C(RolloutAlgorithm):
    """Independent actor-critics: ``pi(a | o_i)`` and ``V(o_i)``, one A2C step per rollout."""

    Config = IA2CConfig
    action_kinds = ("discrete", "continuous")

    def __init__(self, spec, config: IA2CConfig, device="cpu") -> None:
        super().__init__(spec, config, device)
        self.head = make_action_head(spec, device=self.device)
        self.actor = build_network(spec, config.agent, self.head.out_dim).to(self.device)
        self.critic = build_network(spec, config.agent, 1).to(self.device)
        self.params = [*self.actor.parameters(), *self.head.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr)

    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore, t_env):
        out, _ = self.actor.step(obs, None)
        return self.head.act(out, avail, explore)[0], hidden

    @torch.no_grad()
    def rollout_step(self, obs, state, avail, hidden, t_env) -> PolicyStep:
        out, _ = self.actor.step(obs, None)
        env_actions, actions = self.head.act(out, avail, explore=True)
        return PolicyStep(env_actions, actions, self.head.log_prob(out, avail, actions), self.value(obs, state, None), None)

    @torch.no_grad()
    def value(self, obs, state, hidden) -> torch.Tensor:
        return self.critic.step(obs, None)[0].squeeze(-1)

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        cfg = self.config
        advantages, returns = buffer.advantages(cfg.gamma, cfg.gae_lambda)
        alive = buffer.alive.float()
        live = advantages[buffer.alive]
        advantages = (advantages - live.mean()) / (live.std() + 1e-8)

        out, _ = self.actor.unroll(buffer.obs)  # [T, B] as the batch and time axes: feed-forward nets
        log_prob, entropy = self.head.log_prob_entropy(out, buffer.avail, buffer.actions)
        v = self.critic.unroll(buffer.obs)[0].squeeze(-1)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x * alive).sum() / alive.sum().clamp_min(1.0)

        policy_loss = -mean(log_prob * advantages)
        value_loss = mean((v - returns).pow(2))
        entropy_mean = mean(entropy)
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy_mean
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.optimizer.step()
        return {"loss/policy": float(policy_loss.detach()), "loss/value": float(value_loss.detach()),
                "loss/entropy": float(entropy_mean.detach()), "loss/grad_norm": float(grad_norm)}

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "head": self.head.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "head", "optimizer"):
            getattr(self, name).load_state_dict(state[name])
