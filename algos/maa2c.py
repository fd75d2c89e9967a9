"""MAA2C: multi-agent advantage actor-critic with a centralised critic (Papoudakis et al., 2021, as in EPyMARL).

A2C (Mnih et al., 2016) for a team: a shared actor ``pi(a | o_i)`` (one-hot agent id appended) acts
from each agent's own observation, and one critic, shared with the agent id, values the global
state, ``V(s, i)``. One gradient step per rollout of every env copy, on n-step returns:

    R_t      = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k})
    A_t      = R_t - V(s_t)        (k runs to the rollout's or the episode's end: GAE with lambda = 1)
    L_policy = -log pi(a_t | o_t) A_t - c_ent * entropy
    L_value  = (V(s_t) - R_t)^2

averaged over the steps where the agent is alive, the actor's and the critic's gradients each clipped.
There is no ratio, no clipping and no second epoch: that is what separates it from MAPPO.

Defaults follow EPyMARL's maa2c.yaml: Adam at 5e-4 for actor and critic, entropy 0.01, gamma 0.99,
5-step returns, gradient norm 10, feed-forward agents of 64 units, advantages not standardised.
Where the rollout machinery differs: returns run to the end of a 5-step rollout (A2C's t_max = 5;
EPyMARL takes 5 steps from every step of whole episodes), they bootstrap from the critic as it
acted rather than from a target copy, and the critic's targets are standardised by running
statistics (value normalisation, as in MAPPO) where EPyMARL standardises the rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from marlzoo.learning.actor_critic import ActorCritic, ActorCriticConfig, masked_mean
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class MAA2CConfig(ActorCriticConfig):
    """MAA2C's hyperparameters (the ``algo:`` section); configs/algos/maa2c.yaml tunes them for small budgets."""

    lr: float = 5e-4
    critic_lr: float = 5e-4
    gae_lambda: float = 1.0  # n-step returns; below 1, GAE(lambda)
    rollout_length: int = 5
    entropy_coef: float = 0.01
    normalise_advantages: bool = False


class MAA2C(ActorCritic):
    """Advantage actor-critic with a shared actor and a centralised critic ``V(s, agent id)``."""

    Config = MAA2CConfig
    critic_sees = "state"

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        cfg = self.config
        self.anneal_learning_rates(t_env - buffer.length * buffer.n_envs)
        advantages, returns = self.advantages_and_returns(buffer)
        log_prob, entropy, v = self.evaluate(buffer.obs, buffer.state, buffer.avail, buffer.actions,
                                             buffer.starts, buffer.hidden0)
        mask = buffer.alive.float()
        policy_loss = -masked_mean(log_prob * advantages, mask)
        value_loss = masked_mean((v - self.normalise(returns)).pow(2), mask)
        entropy_mean = masked_mean(entropy, mask)
        grad_norm = self.optimise(policy_loss - cfg.entropy_coef * entropy_mean + value_loss)
        self.updates += 1
        return {"loss/policy": float(policy_loss.detach()), "loss/value": float(value_loss.detach()),
                "loss/entropy": float(entropy_mean.detach()), "loss/actor_grad_norm": float(grad_norm)}
