"""The soft actor-critic core shared by MASAC and ISAC (Haarnoja et al., 2018; discrete actions as
in Christodoulou, 2019).

Each agent has a stochastic actor ``pi_i(a | o_i)`` (shared with the agent id, or one per agent) and
two critics ``Q_1, Q_2`` (twins, for the min). An algorithm on this core says only what the critics
see, by its :attr:`SoftActorCritic.critic_view` (marlzoo.learning.critics): the state and the joint
action (MASAC), or the agent's own observation and action (ISAC). With ``x`` that input, ``E_i`` the
expectation over agent i's own action ``a_i ~ pi_i`` (the others' actions held fixed) and ``alpha``
the temperature:

    soft value:  V_i(x') = E_i[ min_j Q_j'(x', a') - alpha * log pi_i(a_i' | o_i') ]
    critics:     Q_j(x, a)  ->  r + gamma * (1 - terminated) * V_i(x'),  for j = 1, 2
    actor:       minimise E_i[ alpha * log pi_i(a_i | o_i) - min_j Q_j(x, a) ]
    temperature: minimise log(alpha) * (H(pi_i) - H_target)   (alpha rises while H < H_target)
    targets:     Q_j' <- (1 - tau) Q_j' + tau Q_j  (Polyak; SAC has no target actor)

The expectation comes from the action head (marlzoo.learning.heads): over a categorical it is
exact, a sum over the available actions weighted by their probabilities, and H is the exact
entropy (the critics then give one value per own action, ``Q_j(x, a_-i, .)``, as in discrete SAC); over the squashed Gaussian it is one reparameterised sample ``a = tanh(mean + std * eps)``
into the bounds, with its log-density corrected for the squash, and H is ``-log pi`` of that sample.
The other agents' actions in agent i's joint action are samples from their current policies at
``x'``; in the actor loss they are those samples too (``others_actions: policy``, as BenchMARL's
MASAC) or the actions in the buffer (``buffer``). Agents that are not alive contribute zero actions
and no loss. The target entropies are :meth:`~marlzoo.learning.heads.ActionHead.target_entropy`'s.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.critics import OffPolicyActorCritic, check_schedule, masked_mean, soft_update
from marlzoo.learning.heads import make_action_head
from marlzoo.learning.nets import AgentNetConfig, build_network
from marlzoo.learning.qlearning import td_targets
from marlzoo.training.buffers import EpisodeBatch


@dataclass
class SACConfig:
    """A soft actor-critic's hyperparameters (the ``algo:`` section). Defaults: the SAC paper's
    learning rates, tau and gamma; BenchMARL's initial temperature and discrete target entropy."""

    lr: float = 3e-4  # actor
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005  # Polyak step of the target critics, per update
    batch_size: int = 32  # episodes per update
    buffer_size: int = 5000  # episodes
    update_every: int = 1  # episodes collected per update
    grad_clip: float = 10.0
    alpha_init: float = 1.0
    autotune_alpha: bool = True  # false: alpha stays at alpha_init
    # discrete: this fraction of the uniform policy's entropy, log(number of available actions).
    # BenchMARL uses 0.2; Christodoulou (2019) 0.98, which holds the policy near uniform.
    target_entropy_discrete: float = 0.2
    # continuous: nats per action dimension, on the action rescaled to [-1, 1]: SAC's -dim(A)
    target_entropy_continuous: float = -1.0
    log_std_init: float = 0.0  # continuous: added to the actor's log-std output
    standardise_rewards: bool = False
    reward_stats: Literal["sampled", "inserted"] = "sampled"  # which rewards the statistics count (RewardStandardiser)
    # the other agents' actions in agent i's actor loss (centralised critics only): "policy" (samples
    # from their current policies) or "buffer" (the actions they took)
    others_actions: Literal["policy", "buffer"] = "policy"
    agent: AgentNetConfig = field(default_factory=AgentNetConfig)  # the actor
    critic: AgentNetConfig = field(default_factory=lambda: AgentNetConfig(hidden=128))

    def __post_init__(self) -> None:
        check_schedule(self.update_every, self.tau)
        if self.alpha_init <= 0.0:
            raise ValueError(f"alpha_init must be positive, not {self.alpha_init}")


class SoftActorCritic(OffPolicyActorCritic):
    """Stochastic actors, twin soft critics seen through :attr:`critic_view`, a tuned temperature."""

    Config = SACConfig
    action_kinds = ("discrete", "continuous")
    checkpointed = ("actor", "critics", "target_critics", "actor_opt", "critic_opt", "alpha_opt")

    def __init__(self, spec: EnvSpec, config: SACConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.head = make_action_head(spec, config.log_std_init, self.device, state_dependent_std=True)
        self.actor = build_network(spec, config.agent, self.head.out_dim).to(self.device)
        self.view = self.critic_view(spec, self.device, per_action_values=self.head.enumerates_actions)
        self.critics = nn.ModuleList([self.view.build(config.critic), self.view.build(config.critic)])
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.alpha_init), device=self.device, requires_grad=True)
        fused = self.device.type == "cpu" or None
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr, fused=fused)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=config.critic_lr, fused=fused)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.alpha_lr)

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    # ----------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore: bool, t_env: int):
        out, hidden = self.actor.step(obs, hidden)
        return self.head.act(out, avail, explore)[0], hidden

    def log_info(self, t_env: int) -> dict[str, float]:
        return {"alpha": self.alpha}

    # ----------------------------------------------------------------- learning
    def min_q(self, critics: nn.ModuleList, x: torch.Tensor, others: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """``min_j Q_j`` with agent i's own action from each of its K candidates ``[B, T, n, K]``."""
        return torch.minimum(*(self.view.q(critic, x, others, own=own) for critic in critics))

    @torch.no_grad()
    def soft_targets(self, batch: EpisodeBatch, reward: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``r + gamma * (1 - terminated) * V_i(x')`` ``[B, T, n]``, from the actor's output
        ``out [B, T+1, n, *]`` over the batch's steps (``V_i`` is 0 where agent i is not alive at t+1)."""
        alive_next = batch.alive[:, 1:]
        nxt = self.head.expectation_terms(out[:, 1:], batch.avail[:, 1:])
        x_next = self.view.inputs(batch.obs[:, 1:], batch.state[:, 1:])
        q_next = self.min_q(self.target_critics, x_next, nxt.sample * alive_next.unsqueeze(-1), nxt.actions)
        soft_value = (nxt.weights * (q_next - self.alpha * nxt.log_probs)).sum(-1)
        return td_targets(reward, batch.terminated, soft_value * alive_next, self.config.gamma)

    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        cfg, head, obs = self.config, self.head, batch.obs
        alive_now = batch.alive[:, :-1]
        mask = (batch.filled.unsqueeze(-1) & alive_now).float()  # [B, T, n]
        taken = head.encode(batch.actions) * alive_now.unsqueeze(-1)
        reward = self.rewards(batch)
        out, _ = self.actor.unroll(obs)  # [B, T+1, n, out]: steps 1.. give the soft values, 0..T-1 the actor loss

        # critics: both twins towards the soft target
        targets = self.soft_targets(batch, reward, out)
        x = self.view.inputs(obs[:, :-1], batch.state[:, :-1])
        qs = [self.view.q(critic, x, taken) for critic in self.critics]
        critic_loss = sum(masked_mean((q - targets).pow(2), mask) for q in qs)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_norm = nn.utils.clip_grad_norm_(self.critics.parameters(), cfg.grad_clip, foreach=True)
        self.critic_opt.step()

        # actors: the expectation over each agent's own action of alpha * log pi - min Q
        now = head.expectation_terms(out[:, :-1], batch.avail[:, :-1])
        others = taken if cfg.others_actions == "buffer" else now.sample.detach() * alive_now.unsqueeze(-1)
        self.critics.requires_grad_(False)  # the actor loss trains the actors only
        q_pi = self.min_q(self.critics, x, others, now.actions)
        alpha = self.alpha
        actor_loss = masked_mean((now.weights * (alpha * now.log_probs - q_pi)).sum(-1), mask)
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.critics.requires_grad_(True)
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip, foreach=True)
        self.actor_opt.step()

        # temperature: towards the target entropy
        entropy = -(now.weights * now.log_probs).sum(-1).detach()
        target = head.target_entropy(batch.avail[:, :-1], cfg.target_entropy_discrete, cfg.target_entropy_continuous)
        alpha_loss = self.log_alpha * masked_mean(entropy - target, mask)
        if cfg.autotune_alpha:
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()

        for target_critic, critic in zip(self.target_critics, self.critics):
            soft_update(target_critic, critic, cfg.tau)
        self.updates += 1
        return {
            "loss/critic": float(critic_loss.detach()),
            "loss/actor": float(actor_loss.detach()),
            "loss/alpha": float(alpha_loss.detach()),
            "loss/entropy": float(masked_mean(entropy, mask)),
            "loss/q_mean": float(masked_mean(qs[0].detach(), mask)),
            "loss/critic_grad_norm": float(critic_norm),
            "loss/actor_grad_norm": float(actor_norm),
        }

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "log_alpha": self.log_alpha.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
