"""MADDPG: multi-agent deep deterministic policy gradient (Lowe et al., 2017).

Each agent has a deterministic actor ``mu_i(o_i)`` (shared with the agent id, or one per agent)
and a centralised critic ``Q_i(s, a_1, ..., a_n)`` that sees the global state and every agent's
action (shared with the agent id too). Off-policy, from the replay buffer of whole episodes:

    critic:  Q_i(s, a)  ->  r + gamma * (1 - terminated) * Q_i'(s', mu_1'(o_1'), ..., mu_n'(o_n'))
    actor:   maximise Q_i(s, a_1, ..., mu_i(o_i), ..., a_n): agent i's own action comes from its
             actor (with gradient); the others' are the ones in the buffer (as in the paper) or,
             with ``others_actions: policy``, their current actors' (without gradient)
    targets: mu' and Q' follow mu and Q by Polyak averaging, theta' <- (1 - tau) theta' + tau theta

The deterministic action head (marlzoo.learning.heads) fits the env: discrete actions are one-hot
vectors from the straight-through Gumbel-softmax over the available actions (one-hot in the
forward pass, what the critic and the env see; the gradient of the relaxed softmax in the backward
pass; greedy play takes the most likely available action), Box actions ``tanh`` of the actor's
output mapped into the bounds, with Gaussian exploration noise clipped to them. The critic sees
actions rescaled to [-1, 1]. Agents that are not alive contribute zero actions, and their steps no loss.
What the critics see is a view (marlzoo.learning.critics): IDDPG (algos/iddpg.py) swaps this one,
the state and the joint action, for the agent's own observation and action.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.critics import OffPolicyActorCritic, check_schedule, masked_mean, soft_update
from marlzoo.learning.heads import make_deterministic_head
from marlzoo.learning.nets import AgentNetConfig, build_network
from marlzoo.learning.qlearning import td_targets
from marlzoo.training.buffers import EpisodeBatch


@dataclass
class MADDPGConfig:
    """MADDPG's hyperparameters (the ``algo:`` section)."""

    lr: float = 5e-4  # actor
    critic_lr: float = 5e-4
    gamma: float = 0.95
    tau: float = 0.01  # Polyak step of the target networks, per update
    batch_size: int = 32  # episodes per update
    buffer_size: int = 5000  # episodes
    update_every: int = 1  # episodes collected per update
    grad_clip: float = 10.0
    gumbel_temperature: float = 1.0
    logit_reg: float = 1e-3  # discrete: penalty on the actor's squared logits
    noise_std: float = 0.1  # Box: exploration noise, as a fraction of each dimension's half-range
    standardise_rewards: bool = False
    reward_stats: Literal["sampled", "inserted"] = "sampled"  # which rewards the statistics count (RewardStandardiser)
    # what the other agents do in agent i's actor loss: "buffer" (their stored actions, as in the
    # paper) or "policy" (their current actors' actions, without gradient)
    others_actions: Literal["buffer", "policy"] = "buffer"
    agent: AgentNetConfig = field(default_factory=AgentNetConfig)  # the actor
    critic: AgentNetConfig = field(default_factory=lambda: AgentNetConfig(hidden=128))

    def __post_init__(self) -> None:
        check_schedule(self.update_every, self.tau)


class MADDPG(OffPolicyActorCritic):
    """Deterministic actors trained through centralised critics ``Q_i(s, all actions)``
    (the base's ``critic_view``, JointActionView; IDDPG's is OwnActionView)."""

    Config = MADDPGConfig
    action_kinds = ("discrete", "continuous")
    checkpointed = ("actor", "critic", "target_actor", "target_critic", "actor_opt", "critic_opt")

    def __init__(self, spec: EnvSpec, config: MADDPGConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.head = make_deterministic_head(spec, config.gumbel_temperature, config.noise_std, self.device)
        self.actor = build_network(spec, config.agent, spec.n_actions).to(self.device)
        self.view = self.critic_view(spec, self.device)
        self.critic = self.view.build(config.critic)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        fused = self.device.type == "cpu" or None
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr, fused=fused)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, fused=fused)

    # ----------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore: bool, t_env: int):
        out, hidden = self.actor.step(obs, hidden)
        return self.head.act(out, avail, explore), hidden

    # ----------------------------------------------------------------- learning
    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        cfg, head, obs = self.config, self.head, batch.obs
        alive_now, alive_next = batch.alive[:, :-1], batch.alive[:, 1:]
        mask = (batch.filled.unsqueeze(-1) & alive_now).float()  # [B, T, n]
        taken = head.encode(batch.actions) * alive_now.unsqueeze(-1)
        reward = self.rewards(batch)

        # critic: TD towards the target actors' joint action at s'
        with torch.no_grad():
            target_out, _ = self.target_actor.unroll(obs)
            next_joint = head.relaxed(target_out[:, 1:], batch.avail[:, 1:])
            next_joint = next_joint * alive_next.unsqueeze(-1)
            next_q = self.view.q(self.target_critic, self.view.inputs(obs[:, 1:], batch.state[:, 1:]), next_joint)
            targets = td_targets(reward, batch.terminated, next_q * alive_next, cfg.gamma)
        x = self.view.inputs(obs[:, :-1], batch.state[:, :-1])
        q = self.view.q(self.critic, x, taken)
        critic_loss = masked_mean((q - targets).pow(2), mask)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_norm = nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip, foreach=True)
        self.critic_opt.step()

        # actors: agent i's own action from its actor (with gradient), the others' as configured
        out, _ = self.actor.unroll(obs)
        out = out[:, :-1]
        own = head.relaxed(out, batch.avail[:, :-1]) * alive_now.unsqueeze(-1)
        others = taken if cfg.others_actions == "buffer" else own.detach()
        self.critic.requires_grad_(False)  # the actor loss trains the actors only: skip the critic's weight grads
        q_pi = self.view.q(self.critic, x, others, own=own)
        actor_loss = -masked_mean(q_pi, mask)
        reg = head.penalty(out, batch.avail[:, :-1]) if cfg.logit_reg > 0 else None
        if reg is not None:
            actor_loss = actor_loss + cfg.logit_reg * (reg * mask).sum() / mask.sum().clamp_min(1.0)
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.critic.requires_grad_(True)
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip, foreach=True)
        self.actor_opt.step()

        soft_update(self.target_actor, self.actor, cfg.tau)
        soft_update(self.target_critic, self.critic, cfg.tau)
        self.updates += 1
        n = mask.sum().clamp_min(1.0)
        return {
            "loss/critic": float(critic_loss.detach()),
            "loss/actor": float(actor_loss.detach()),
            "loss/q_mean": float((q.detach() * mask).sum() / n),
            "loss/critic_grad_norm": float(critic_norm),
            "loss/actor_grad_norm": float(actor_norm),
        }
