"""MAPPO: proximal policy optimisation with a centralised critic (Yu et al., 2022).

Each agent acts from its own observation with a shared actor (its one-hot id appended; or one
actor per agent). One critic, also shared with the agent id, values the global state:
``V(s, i)``, so training is centralised while acting stays decentralised. Learning is PPO on
fixed-length rollouts:

    A_t      = GAE(lambda) of the team reward against V, per agent (marlzoo.training.rollouts.gae)
    ratio    = pi(a_t | o_t) / pi_old(a_t | o_t)
    L_policy = -min(ratio * A_t, clip(ratio, 1 - eps, 1 + eps) * A_t) - c_ent * entropy
    L_value  = max(huber(V - R), huber(V_old + clip(V - V_old, -eps_v, eps_v) - R))

over several epochs of minibatches, with gradient clipping. The critic predicts the return
standardised by a running mean and std of the returns seen (value normalisation; not PopArt):
``V`` is trained on ``(R - mean) / std`` and read back as ``mean + std * V``. Steps where an agent
is not alive are left out of every loss.

The action head (marlzoo.learning.heads) comes from the env's action space.
Discrete actions: a categorical over the available actions; greedy play takes the most likely one.
Box actions: a Gaussian sample ``u`` (state-independent, learnt log-std) squashed into the bounds,
``a = center + half * tanh(u)``; the log-probability is that of ``a``, with the change-of-variables
term (marlzoo.learning.distributions). Greedy play takes ``a`` at ``u = mean``. The entropy bonus is that
of the Gaussian before the squash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from marlzoo.algorithm import PolicyStep, RolloutAlgorithm
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.heads import make_action_head
from marlzoo.learning.nets import AgentNetConfig, build_network
from marlzoo.learning.normalise import RunningMeanStd
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class MAPPOConfig:
    """MAPPO's hyperparameters (the ``algo:`` section)."""

    # The defaults are the MAPPO paper's MPE settings; configs/algos/mappo.yaml tunes them for
    # small budgets with few env copies.
    lr: float = 7e-4  # actor
    critic_lr: float = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    rollout_length: int = 25  # steps of every env copy per update
    epochs: int = 10
    minibatches: int = 1  # per epoch
    clip: float = 0.2
    value_clip: float = 0.2  # 0 turns the clipped value loss off
    huber_delta: float = 10.0  # 0 means squared error
    entropy_coef: float = 0.01
    grad_clip: float = 10.0
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
        for name in ("rollout_length", "epochs", "minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


class MAPPO(RolloutAlgorithm):
    """PPO with a shared actor and a centralised, value-normalised critic ``V(s, agent id)``."""

    Config = MAPPOConfig
    action_kinds = ("discrete", "continuous")
    critic_sees = "state"  # what build_network feeds the critic: "state", or "obs" for IPPO

    def __init__(self, spec: EnvSpec, config: MAPPOConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.head = make_action_head(spec, config.log_std_init, self.device)
        self.actor = build_network(spec, config.agent, self.head.out_dim).to(self.device)
        self.critic = build_network(spec, config.critic, 1, source=self.critic_sees).to(self.device)
        self.actor_params = list(self.actor.parameters()) + list(self.head.parameters())
        self.critic_params = list(self.critic.parameters())
        self.optimizer = torch.optim.Adam(
            [{"params": self.actor_params, "lr": config.lr}, {"params": self.critic_params, "lr": config.critic_lr}],
            eps=1e-5, fused=self.device.type == "cpu" or None,
        )
        self.value_norm = RunningMeanStd()
        self.updates = 0

    # ----------------------------------------------------------------- what the critic sees
    def critic_input(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The global state, one copy per agent (the critic appends the agent id): ``[..., n, S]``."""
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
        return PolicyStep(env_actions, actions, log_prob, self._denormalise(v.squeeze(-1)), new_hidden)

    @torch.no_grad()
    def value(self, obs, state, hidden) -> torch.Tensor:
        critic_h = hidden[1] if hidden is not None else None
        v, _ = self.critic.step(self.critic_input(obs, state), critic_h)
        return self._denormalise(v.squeeze(-1))

    # ----------------------------------------------------------------- value normalisation
    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.normalise_values:
            return x
        return (x - self.value_norm.mean) / self.value_norm.std

    def _denormalise(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.normalise_values:
            return x
        return x * self.value_norm.std + self.value_norm.mean

    # ----------------------------------------------------------------- learning
    def _evaluate(self, obs, state, avail, actions, starts, hidden0):
        """Log-probs, entropies and (normalised) values ``[T, b, n]`` of time-major sequences.

        Feed-forward nets see every step in one pass; recurrent ones step through time from the
        rollout's initial state, resetting where an episode starts.
        """
        T, b = obs.shape[:2]
        critic_x = self.critic_input(obs, state)
        if hidden0 is None:
            out, _ = self.actor.step(obs.reshape(T * b, *obs.shape[2:]), None)
            v, _ = self.critic.step(critic_x.reshape(T * b, *critic_x.shape[2:]), None)
            out, v = out.reshape(T, b, *out.shape[1:]), v.reshape(T, b, -1)
        else:
            outs, vs = [], []
            actor_h, critic_h = hidden0
            for t in range(T):
                keep = (~starts[t]).float().view(b, 1, 1)
                actor_h = None if actor_h is None else actor_h * keep
                critic_h = None if critic_h is None else critic_h * keep
                out_t, actor_h = self.actor.step(obs[t], actor_h)
                v_t, critic_h = self.critic.step(critic_x[t], critic_h)
                outs.append(out_t)
                vs.append(v_t)
            out, v = torch.stack(outs), torch.stack(vs).squeeze(-1)
        log_prob, entropy = self.head.log_prob_entropy(out, avail, actions)
        return log_prob, entropy, v

    def _huber(self, error: torch.Tensor) -> torch.Tensor:
        delta = self.config.huber_delta
        if delta <= 0:
            return error.pow(2)
        return F.huber_loss(error, torch.zeros_like(error), reduction="none", delta=delta)

    def _loss(self, mb: dict[str, torch.Tensor], hidden0: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The PPO loss of one minibatch (see the module docstring), and its parts for the log."""
        cfg = self.config
        log_prob, entropy, v = self._evaluate(mb["obs"], mb["state"], mb["avail"], mb["actions"], mb["starts"], hidden0)
        m, adv = mb["mask"], mb["advantages"]
        log_ratio = log_prob - mb["log_prob"]
        ratio = torch.exp(log_ratio)
        surrogate = torch.min(ratio * adv, ratio.clamp(1.0 - cfg.clip, 1.0 + cfg.clip) * adv)
        policy_loss = -_masked_mean(surrogate, m)
        entropy_mean = _masked_mean(entropy, m)
        value_error = self._huber(v - mb["targets"])
        if cfg.value_clip > 0:
            clipped = mb["old_values"] + (v - mb["old_values"]).clamp(-cfg.value_clip, cfg.value_clip)
            value_error = torch.max(value_error, self._huber(clipped - mb["targets"]))
        value_loss = _masked_mean(value_error, m)
        loss = policy_loss - cfg.entropy_coef * entropy_mean + value_loss
        parts = {"policy": policy_loss, "value": value_loss, "entropy": entropy_mean,
                 "log_ratio": log_ratio.detach(), "ratio": ratio.detach(), "mask": m}
        return loss, parts

    def anneal_learning_rates(self, t_start: int) -> None:
        """Set both learning rates for an update whose rollout began at env step ``t_start``."""
        cfg = self.config
        if cfg.lr_anneal_steps <= 0:
            return
        remaining = max(0.0, 1.0 - t_start / cfg.lr_anneal_steps)
        for group, base in zip(self.optimizer.param_groups, (cfg.lr, cfg.critic_lr)):
            group["lr"] = base * remaining

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        cfg = self.config
        self.anneal_learning_rates(t_env - buffer.length * buffer.n_envs)
        advantages, returns = buffer.advantages(cfg.gamma, cfg.gae_lambda)
        alive = buffer.alive
        if cfg.normalise_values:
            self.value_norm.update(returns[alive])
        if cfg.normalise_advantages:
            live = advantages[alive]
            if live.numel() > 1:
                advantages = (advantages - live.mean()) / (live.std() + 1e-8)
        data = {"obs": buffer.obs, "state": buffer.state, "avail": buffer.avail,
                "actions": buffer.actions, "starts": buffer.starts, "log_prob": buffer.log_prob,
                "advantages": advantages, "targets": self._normalise(returns),
                "old_values": self._normalise(buffer.value), "mask": alive.float()}
        recurrent = buffer.hidden0 is not None
        T, B = buffer.length, buffer.n_envs
        if not recurrent:  # feed-forward: every (step, copy) is an independent sample, shape [1, T*B, ...]
            data = {k: v.reshape(1, T * B, *v.shape[2:]) for k, v in data.items()}
        n_items = B if recurrent else T * B
        sums = torch.zeros(3)
        for epoch in range(cfg.epochs):
            # one minibatch is the whole rollout: no shuffle needed
            chunks = [None] if cfg.minibatches == 1 else torch.randperm(n_items).chunk(cfg.minibatches)
            for idx in chunks:
                mb = data if idx is None else {k: v[:, idx] for k, v in data.items()}
                hidden0 = buffer.hidden0
                if recurrent and idx is not None:
                    hidden0 = tuple(None if h is None else h[idx] for h in buffer.hidden0)
                loss, parts = self._loss(mb, hidden0)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(self.actor_params, cfg.grad_clip, foreach=True)
                nn.utils.clip_grad_norm_(self.critic_params, cfg.grad_clip, foreach=True)
                self.optimizer.step()
                sums += torch.stack([parts["policy"].detach(), parts["value"].detach(), parts["entropy"].detach()])
        self.updates += 1
        with torch.no_grad():  # how far the last minibatch moved the policy from the one that acted
            ratio, m = parts["ratio"], parts["mask"]
            approx_kl = _masked_mean(ratio - 1.0 - parts["log_ratio"], m)
            clip_fraction = _masked_mean(((ratio - 1.0).abs() > cfg.clip).float(), m)
        policy, value, entropy = (sums / (cfg.epochs * len(chunks))).tolist()
        return {"loss/policy": policy, "loss/value": value, "loss/entropy": entropy,
                "loss/approx_kl": float(approx_kl), "loss/clip_fraction": float(clip_fraction),
                "loss/actor_grad_norm": float(grad_norm)}

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
