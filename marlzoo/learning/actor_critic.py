"""The actor-critic set-up the on-policy algorithms share (MAPPO, IPPO, MAA2C, IA2C, COMA, HAPPO).

An :class:`ActorCritic` is a :class:`~marlzoo.RolloutAlgorithm` with
  * a stochastic actor ``pi(a | o_i)``: an agent network from :func:`~marlzoo.learning.nets.build_network`
    and the action head for the env's action space (:func:`~marlzoo.learning.heads.make_action_head`);
  * a critic from :meth:`ActorCritic.build_critic`: by default ``V`` per agent of the global state
    (``critic_sees = "state"``) or of the agent's own observation (``"obs"``);
  * one Adam over both, with two parameter groups (``lr`` for the actor, ``critic_lr`` for the critic),
    each clipped to ``grad_clip`` on its own, and optional linear decay of both rates;
  * value normalisation: with ``normalise_values`` the critic predicts returns standardised by a
    running mean and std, and is read back in return units;
  * acting, bootstrapping, the re-evaluation of a rollout (feed-forward nets in one pass, recurrent
    ones stepped through time from the rollout's first hidden state) and the saved state.

A subclass is its loss: it writes ``learn``, usually as :meth:`ActorCritic.advantages_and_returns`,
a loss from :meth:`ActorCritic.evaluate`, and :meth:`ActorCritic.optimise`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from marlzoo.algorithm import PolicyStep, RolloutAlgorithm
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.heads import ActionHead, make_action_head
from marlzoo.learning.nets import AgentNetConfig, AgentNetwork, build_network
from marlzoo.learning.normalise import RunningMeanStd
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class ActorCriticConfig:
    """The hyperparameters every actor-critic reads; each algorithm's Config extends it and sets its
    own defaults (these are the MAPPO paper's MPE settings)."""

    lr: float = 7e-4  # actor
    critic_lr: float = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    rollout_length: int = 25  # steps of every env copy per update
    entropy_coef: float = 0.01
    grad_clip: float = 10.0  # on the actor's and the critic's gradients, each on its own
    normalise_values: bool = True
    normalise_advantages: bool = True
    log_std_init: float = -0.5  # Box actions: initial log-std of the Gaussian before the squash
    # > 0: both learning rates fall linearly from lr (critic_lr) to 0 over this many env steps, the
    # linear decay of the PPO paper; set it to the run's budget. 0 keeps them constant.
    lr_anneal_steps: int = 0
    agent: AgentNetConfig = field(default_factory=AgentNetConfig)  # the actor
    critic: AgentNetConfig = field(default_factory=AgentNetConfig)

    def __post_init__(self) -> None:
        if self.lr_anneal_steps < 0:
            raise ValueError(f"lr_anneal_steps must be 0 (off) or positive, not {self.lr_anneal_steps}")
        if self.rollout_length < 1:
            raise ValueError(f"rollout_length must be at least 1, not {self.rollout_length}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over the entries where ``mask`` (0/1 floats) is 1."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def standardise(x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """``x`` standardised by the mean and std of its entries where ``alive`` (unchanged if there is
    only one)."""
    live = x[alive]
    if live.numel() <= 1:
        return x
    return (x - live.mean()) / (live.std() + 1e-8)


def stacked_by_layout(data: dict[str, torch.Tensor]) -> list[tuple[list[str], torch.Tensor]]:
    """``data``'s tensors ``[1, N, ...]`` stacked into one ``[k, 1, N, ...]`` per dtype and shape,
    each with its keys, so that a minibatch index runs once per group, not once per tensor."""
    groups: dict[tuple, list[str]] = {}
    for key, value in data.items():
        groups.setdefault((value.dtype, tuple(value.shape)), []).append(key)
    return [(keys, torch.stack([data[k] for k in keys])) for keys in groups.values()]


def shuffled_parts(groups: list[tuple[list[str], torch.Tensor]], perm: torch.Tensor, parts: int):
    """The minibatches ``{key: [1, n_i, ...]}`` of :func:`stacked_by_layout`'s groups: rows in the
    order of ``perm``, cut into ``parts`` as ``perm.chunk(parts)`` cuts it."""
    chunks = [[c.unbind(0) for c in stack[:, :, perm].chunk(parts, dim=2)] for _, stack in groups]
    for i in range(len(chunks[0])):
        yield {k: t for (keys, _), group in zip(groups, chunks) for k, t in zip(keys, group[i])}


@torch.no_grad()
def clip_grad_norms(groups: tuple[list[nn.Parameter], ...], max_norm: float) -> list[torch.Tensor]:
    """:func:`torch.nn.utils.clip_grad_norm_` (foreach, L2) on each group of parameters on its own,
    with the same arithmetic, but one norm kernel for all groups; returns each group's total norm.
    Parameters without a gradient are left out, as there."""
    grads = [[p.grad for p in params if p.grad is not None] for params in groups]
    every = [g for group in grads for g in group]
    norms = iter(torch._foreach_norm(every, 2.0) if every else [])
    totals = []
    for group in grads:
        if not group:
            totals.append(torch.tensor(0.0))
            continue
        total = torch.linalg.vector_norm(torch.stack([next(norms) for _ in group]), 2.0)
        torch._foreach_mul_(group, torch.clamp(max_norm / (total + 1e-6), max=1.0))
        totals.append(total)
    return totals


def unroll(net: AgentNetwork, x: torch.Tensor, starts: torch.Tensor, hidden: Any, recurrent: bool) -> torch.Tensor:
    """``net``'s outputs ``[T, b, n, out]`` over a time-major rollout ``x [T, b, n, ...]``.

    Feed-forward (``recurrent`` False): every step in one pass. Recurrent: step through time from
    ``hidden``, zeroing a copy's state where its episode starts (``starts [T, b]``).
    """
    T, b = x.shape[:2]
    if not recurrent:
        out, _ = net.step(x.reshape(T * b, *x.shape[2:]), None)
        return out.reshape(T, b, *out.shape[1:])
    outs = []
    for t in range(T):
        if hidden is not None:
            hidden = hidden * (~starts[t]).float().view(b, 1, 1)
        out_t, hidden = net.step(x[t], hidden)
        outs.append(out_t)
    return torch.stack(outs)


class ActorCritic(RolloutAlgorithm):
    """A stochastic actor, a critic, their optimiser and acting; subclasses add the loss (module docstring)."""

    Config = ActorCriticConfig
    action_kinds = ("discrete", "continuous")
    critic_sees = "state"  # what the default critic reads: "state", or "obs" (each agent's own observation)

    def __init__(self, spec: EnvSpec, config: Any, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.head = self.build_head()
        self.actor = build_network(spec, config.agent, self.head.out_dim).to(self.device)
        self.critic = self.build_critic().to(self.device)
        self.actor_params = list(self.actor.parameters()) + list(self.head.parameters())
        self.critic_params = list(self.critic.parameters())
        self.optimizer = torch.optim.Adam(
            [{"params": self.actor_params, "lr": config.lr}, {"params": self.critic_params, "lr": config.critic_lr}],
            eps=1e-5, fused=self.device.type == "cpu" or None,
        )
        self.value_norm = RunningMeanStd()
        self.updates = 0

    # ----------------------------------------------------------------- what is built
    def build_head(self) -> ActionHead:
        """The action head: a masked categorical, or a squashed Gaussian with one log-std for all agents."""
        return make_action_head(self.spec, self.config.log_std_init, self.device)

    def build_critic(self) -> AgentNetwork:
        """The critic: one value per agent, of what :attr:`critic_sees` (the agent id appended if shared)."""
        return build_network(self.spec, self.config.critic, 1, source=self.critic_sees)

    def critic_input(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """What the default critic reads: the global state, one copy per agent ``[..., n, S]``, or
        each agent's observation."""
        if self.critic_sees == "obs":
            return obs
        return state.unsqueeze(-2).expand(*state.shape[:-1], self.spec.n_agents, state.shape[-1])

    # ----------------------------------------------------------------- the policy
    def init_hidden(self, batch: int) -> tuple[Any, Any] | None:
        actor_h, critic_h = self.actor.init_hidden(batch), self.critic.init_hidden(batch)
        return None if actor_h is None and critic_h is None else (actor_h, critic_h)

    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore: bool, t_env: int):
        actor_h, critic_h = hidden if hidden is not None else (None, None)
        out, actor_h = self.actor.step(obs, actor_h)
        actions, _ = self.head.act(out, avail, explore)
        return actions, None if hidden is None else (actor_h, critic_h)

    @torch.no_grad()
    def rollout_step(self, obs, state, avail, hidden, t_env: int) -> PolicyStep:
        actor_h, critic_h = hidden if hidden is not None else (None, None)
        out, actor_h = self.actor.step(obs, actor_h)
        env_actions, actions = self.head.act(out, avail, explore=True)
        log_prob = self.head.log_prob(out, avail, actions)
        v, critic_h = self.critic.step(self.critic_input(obs, state), critic_h)
        new_hidden = None if hidden is None else (actor_h, critic_h)
        return PolicyStep(env_actions, actions, log_prob, self.denormalise(v.squeeze(-1)), new_hidden)

    @torch.no_grad()
    def value(self, obs, state, hidden) -> torch.Tensor:
        critic_h = hidden[1] if hidden is not None else None
        v, _ = self.critic.step(self.critic_input(obs, state), critic_h)
        return self.denormalise(v.squeeze(-1))

    # ----------------------------------------------------------------- value normalisation
    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Return units to the critic's (standardised) units; the identity without ``normalise_values``."""
        if not self.config.normalise_values:
            return x
        return (x - self.value_norm.mean) / self.value_norm.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's units back to return units."""
        if not self.config.normalise_values:
            return x
        return x * self.value_norm.std + self.value_norm.mean

    # ----------------------------------------------------------------- learning
    def policy_outputs(self, obs, avail, actions, starts, hidden0) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs and entropies ``[T, b, n]`` of a rollout's time-major sequences (``hidden0`` is
        the rollout's first ``(actor, critic)`` hidden state, or None)."""
        recurrent = hidden0 is not None
        out = unroll(self.actor, obs, starts, hidden0[0] if recurrent else None, recurrent)
        return self.head.log_prob_entropy(out, avail, actions)

    def values(self, obs, state, starts, hidden0) -> torch.Tensor:
        """The critic's (normalised) values ``[T, b, n]`` of a rollout's time-major sequences."""
        recurrent = hidden0 is not None
        x = self.critic_input(obs, state)
        return unroll(self.critic, x, starts, hidden0[1] if recurrent else None, recurrent).squeeze(-1)

    def evaluate(self, obs, state, avail, actions, starts, hidden0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs, entropies and (normalised) values ``[T, b, n]`` of a rollout's time-major sequences."""
        log_prob, entropy = self.policy_outputs(obs, avail, actions, starts, hidden0)
        return log_prob, entropy, self.values(obs, state, starts, hidden0)

    def advantages_and_returns(self, buffer: RolloutBuffer, lam: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE(``lam``, default ``gae_lambda``) advantages and returns ``[T, B, n]`` of the rollout.

        With ``normalise_values`` the running statistics take in the returns of live steps first;
        with ``normalise_advantages`` the advantages are standardised over the live steps.
        """
        cfg = self.config
        advantages, returns = buffer.advantages(cfg.gamma, cfg.gae_lambda if lam is None else lam)
        alive = buffer.alive
        if cfg.normalise_values:
            self.value_norm.update(returns[alive])
        if cfg.normalise_advantages:
            advantages = standardise(advantages, alive)
        return advantages, returns

    def optimise(self, loss: torch.Tensor, only: list[nn.Parameter] | None = None) -> torch.Tensor:
        """One Adam step on ``loss``, each network's gradient clipped on its own; returns the actor's
        gradient norm. Parameters the loss does not reach are left alone, and so are all but ``only``
        if given (a zero gradient would still move a parameter through Adam's momentum)."""
        for group in self.optimizer.param_groups:  # zero_grad(set_to_none=True), without its overhead
            for p in group["params"]:
                p.grad = None
        loss.backward()
        if only is not None:
            keep = {id(p) for p in only}
            for p in self.actor_params + self.critic_params:
                if id(p) not in keep:
                    p.grad = None
        grad_norm = clip_grad_norms((self.actor_params, self.critic_params), self.config.grad_clip)[0]
        self.optimizer.step()
        return grad_norm

    def anneal_learning_rates(self, t_start: int) -> None:
        """Set both learning rates for an update whose rollout began at env step ``t_start``."""
        cfg = self.config
        if cfg.lr_anneal_steps <= 0:
            return
        remaining = max(0.0, 1.0 - t_start / cfg.lr_anneal_steps)
        for group, base in zip(self.optimizer.param_groups, (cfg.lr, cfg.critic_lr)):
            group["lr"] = base * remaining

    def log_info(self, t_env: int) -> dict[str, float]:
        return self.head.log_info()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "head": self.head.state_dict(),
            "value_norm": self.value_norm.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.updates = int(state["updates"])
