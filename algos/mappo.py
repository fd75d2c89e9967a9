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

The actor, critic, action head and acting are the shared actor-critic set-up
(marlzoo.learning.actor_critic). Discrete actions: a categorical over the available actions; greedy
play takes the most likely one. Box actions: a Gaussian sample ``u`` (state-independent, learnt
log-std) squashed into the bounds, ``a = center + half * tanh(u)``; the log-probability is that of
``a``, with the change-of-variables term (marlzoo.learning.distributions). Greedy play takes ``a`` at
``u = mean``. The entropy bonus is that of the Gaussian before the squash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from marlzoo.learning.actor_critic import (ActorCritic, ActorCriticConfig, masked_mean, shuffled_parts,
                                           stacked_by_layout)
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class MAPPOConfig(ActorCriticConfig):
    """MAPPO's hyperparameters (the ``algo:`` section): the shared actor-critic ones, and PPO's."""

    # The defaults are the MAPPO paper's MPE settings; configs/algos/mappo.yaml tunes them for
    # small budgets with few env copies.
    epochs: int = 10
    minibatches: int = 1  # per epoch
    clip: float = 0.2
    value_clip: float = 0.2  # 0 turns the clipped value loss off
    huber_delta: float = 10.0  # 0 means squared error

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epochs", "minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")


class MAPPO(ActorCritic):
    """PPO with a shared actor and a centralised, value-normalised critic ``V(s, agent id)``."""

    Config = MAPPOConfig
    critic_sees = "state"

    def _huber(self, error: torch.Tensor) -> torch.Tensor:
        delta = self.config.huber_delta
        if delta <= 0:
            return error.pow(2)
        return F.huber_loss(error, torch.zeros_like(error), reduction="none", delta=delta)

    def policy_loss(self, log_ratio: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """PPO's clipped surrogate, negated and averaged over the live steps."""
        ratio = torch.exp(log_ratio)
        clip = self.config.clip
        return -masked_mean(torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv), mask)

    def value_loss(self, v: torch.Tensor, targets: torch.Tensor, old_values: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
        """The (clipped) Huber loss of the normalised values against the normalised returns."""
        value_error = self._huber(v - targets)
        if self.config.value_clip > 0:
            clip = self.config.value_clip
            clipped = old_values + (v - old_values).clamp(-clip, clip)
            value_error = torch.max(value_error, self._huber(clipped - targets))
        return masked_mean(value_error, mask)

    def _loss(self, mb: dict[str, torch.Tensor], hidden0: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The PPO loss of one minibatch (see the module docstring), and its parts for the log."""
        log_prob, entropy, v = self.evaluate(mb["obs"], mb["state"], mb["avail"], mb["actions"], mb["starts"], hidden0)
        m = mb["mask"]
        log_ratio = log_prob - mb["log_prob"]
        policy_loss = self.policy_loss(log_ratio, mb["advantages"], m)
        entropy_mean = masked_mean(entropy, m)
        value_loss = self.value_loss(v, mb["targets"], mb["old_values"], m)
        loss = policy_loss - self.config.entropy_coef * entropy_mean + value_loss
        parts = {"policy": policy_loss, "value": value_loss, "entropy": entropy_mean,
                 "log_ratio": log_ratio.detach(), "mask": m}
        return loss, parts

    def rollout_data(self, buffer: RolloutBuffer) -> dict[str, torch.Tensor]:
        """The rollout as the minibatches see it: advantages, normalised targets and old values, masks."""
        advantages, returns = self.advantages_and_returns(buffer)
        return {"obs": buffer.obs, "state": buffer.state, "avail": buffer.avail,
                "actions": buffer.actions, "starts": buffer.starts, "log_prob": buffer.log_prob,
                "advantages": advantages, "targets": self.normalise(returns),
                "old_values": self.normalise(buffer.value), "mask": buffer.alive.float()}

    def minibatches(self, buffer: RolloutBuffer, data: dict[str, torch.Tensor]):
        """``epochs`` passes over ``data`` in ``minibatches`` shuffled parts: ``(minibatch, hidden0)`` pairs.

        Feed-forward nets take every (step, copy) as an independent sample, shape ``[1, T*B, ...]``;
        recurrent ones keep whole sequences of env copies.
        """
        cfg = self.config
        recurrent = buffer.hidden0 is not None
        T, B = buffer.length, buffer.n_envs
        if not recurrent:
            data = {k: v.reshape(1, T * B, *v.shape[2:]) for k, v in data.items()}
        n_items = B if recurrent else T * B
        groups = None if recurrent or cfg.minibatches == 1 else stacked_by_layout(data)
        for _ in range(cfg.epochs):
            if cfg.minibatches == 1:  # one minibatch is the whole rollout: no shuffle needed
                yield data, buffer.hidden0
                continue
            perm = torch.randperm(n_items)
            if groups is not None:
                # Shuffle each group of like tensors with one index, then cut contiguous parts: the
                # same rows as indexing every tensor with each part of the permutation.
                yield from ((mb, None) for mb in shuffled_parts(groups, perm, cfg.minibatches))
                continue
            for idx in perm.chunk(cfg.minibatches):
                mb = {k: v[:, idx] for k, v in data.items()}
                yield mb, tuple(None if h is None else h[idx] for h in buffer.hidden0)

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        cfg = self.config
        self.anneal_learning_rates(t_env - buffer.length * buffer.n_envs)
        sums, n = torch.zeros(3), 0
        for mb, hidden0 in self.minibatches(buffer, self.rollout_data(buffer)):
            loss, parts = self._loss(mb, hidden0)
            grad_norm = self.optimise(loss)
            sums += torch.stack([parts["policy"].detach(), parts["value"].detach(), parts["entropy"].detach()])
            n += 1
        self.updates += 1
        policy, value, entropy = (sums / n).tolist()
        return {"loss/policy": policy, "loss/value": value, "loss/entropy": entropy,
                **self.drift(parts["log_ratio"], parts["mask"]), "loss/actor_grad_norm": float(grad_norm)}

    @torch.no_grad()
    def drift(self, log_ratio: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """How far the last minibatch moved the policy from the one that acted."""
        ratio = torch.exp(log_ratio)
        approx_kl = masked_mean(ratio - 1.0 - log_ratio, mask)
        clip_fraction = masked_mean(((ratio - 1.0).abs() > self.config.clip).float(), mask)
        return {"loss/approx_kl": float(approx_kl), "loss/clip_fraction": float(clip_fraction)}
