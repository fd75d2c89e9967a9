"""COMA: counterfactual multi-agent policy gradients (Foerster et al., AAAI 2018).

Decentralised actors ``pi_a(u_a | o_a)`` (one shared network with the agent id) and one centralised
critic that, for agent ``a``, values each of its actions with everything else held fixed: it reads
the state and the other agents' actions and returns ``Q_a(s, (u^-a, .))``, one value per action of
``a``, in one pass. The counterfactual baseline marginalises ``a``'s own action out under its policy:

    b_a(s, u^-a) = sum_u' pi_a(u' | o_a) Q_a(s, (u^-a, u'))
    A_a(s, u)    = Q_a(s, u) - b_a(s, u^-a)
    L_policy     = -log pi_a(u_a | o_a) A_a(s, u) - c_ent * entropy
    L_critic     = (Q_a(s_t, u_t) - y_t)^2,  y_t the TD(lambda) target of the actions taken

The targets are GAE(lambda)'s returns over the critic's values of the actions taken (the
rollout's ``value``), which is TD(lambda) for Q. At a bootstrap the next actions are not yet taken:
the value there is the baseline itself, the other agents' actions drawn from their policies and
the agent's own marginalised out. One gradient step per rollout; the advantage uses the critic
before that step. Discrete actions only: the baseline is a sum over an agent's actions.

Defaults: TD(lambda = 0.8) targets and gamma 0.99 as in the paper; Adam at 5e-4 for actor and
critic, entropy 0.01, feed-forward actor and critic, critic targets standardised by running
statistics (EPyMARL's coma.yaml: standardise_returns) and raw advantages. Where the rollout
machinery differs from EPyMARL: the targets come from the critic as it acted rather than from a
target copy refreshed every 200 updates, and the critic reads the state and the others' actions
(with the agent id) but not the agent's own observation or the last actions. An agent that has
left the episode is out of the others' actions when learning; while acting (where the rollout
contract does not say who is alive) it is in, with the no-op the env allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from marlzoo.algorithm import PolicyStep
from marlzoo.learning.actor_critic import ActorCritic, ActorCriticConfig, masked_mean, standardise, unroll
from marlzoo.learning.distributions import masked_logits
from marlzoo.learning.nets import AgentNetConfig, AgentNetwork, build_network
from marlzoo.training.rollouts import RolloutBuffer


@dataclass
class COMAConfig(ActorCriticConfig):
    """COMA's hyperparameters (the ``algo:`` section); configs/algos/coma.yaml tunes them for small budgets."""

    lr: float = 5e-4
    critic_lr: float = 5e-4
    gae_lambda: float = 0.8  # the critic's TD(lambda)
    rollout_length: int = 25
    normalise_advantages: bool = False
    critic: AgentNetConfig = field(default_factory=AgentNetConfig)  # feed-forward only

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.critic.kind != "mlp":
            raise ValueError("COMA's critic reads the state and the joint action of one step: critic.kind must be 'mlp'")


def counterfactual_advantage(q: torch.Tensor, pi: torch.Tensor,
                             actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """COMA's baseline and advantage per agent ``[..., n]``, from ``q = Q_a(s, (u^-a, .)) [..., n, A]``,
    the policies ``pi [..., n, A]`` and the actions taken ``[..., n]``."""
    baseline = (pi * q).sum(-1)
    q_taken = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return baseline, q_taken - baseline


class COMA(ActorCritic):
    """Shared actor, centralised critic ``Q_a(s, u^-a, .)``, counterfactual-baseline policy gradient."""

    Config = COMAConfig
    action_kinds = ("discrete",)

    def __init__(self, spec, config: COMAConfig, device="cpu") -> None:
        super().__init__(spec, config, device)
        n, A = spec.n_agents, spec.n_actions
        # others[a] keeps every agent's one-hot block but a's own
        self.others = (1.0 - torch.eye(n, device=self.device).repeat_interleave(A, dim=1))
        # value() is not told which actions are available: it leaves out only the padded ones
        self.unpadded = torch.arange(A, device=self.device) < torch.tensor(spec.action_sizes, device=self.device)[:, None]

    def build_critic(self) -> AgentNetwork:
        n, A = self.spec.n_agents, self.spec.n_actions
        return build_network(self.spec, self.config.critic, A, source="state", extra_dim=n * A)

    def q_values(self, state: torch.Tensor, actions: torch.Tensor, alive: torch.Tensor | None = None) -> torch.Tensor:
        """``Q_a(s, (u^-a, .))`` for every agent, ``[..., n, A]`` in the critic's units, from
        ``state [..., S]`` and the joint action ``[..., n]``; agent a's own action is not read, nor
        (given ``alive [..., n]``) the action recorded for an agent that has left."""
        lead, (n, A) = state.shape[:-1], (self.spec.n_agents, self.spec.n_actions)
        x = state.reshape(-1, 1, state.shape[-1]).expand(-1, n, -1)
        joint = F.one_hot(actions.reshape(-1, n), A).float()
        if alive is not None:
            joint = joint * alive.reshape(-1, n, 1).float()
        joint = joint.reshape(-1, 1, n * A)
        q, _ = self.critic.step(x, None, extra=joint * self.others)
        return q.reshape(*lead, n, A)

    @torch.no_grad()
    def rollout_step(self, obs, state, avail, hidden, t_env: int) -> PolicyStep:
        actor_h = hidden[0] if hidden is not None else None
        out, actor_h = self.actor.step(obs, actor_h)
        env_actions, actions = self.head.act(out, avail, explore=True)
        q_taken = self.q_values(state, actions).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        new_hidden = None if hidden is None else (actor_h, None)
        return PolicyStep(env_actions, actions, self.head.log_prob(out, avail, actions), self.denormalise(q_taken),
                          new_hidden)

    @torch.no_grad()
    def value(self, obs, state, hidden) -> torch.Tensor:
        """The bootstrap: each agent's counterfactual baseline, the others' actions sampled."""
        out, _ = self.actor.step(obs, hidden[0] if hidden is not None else None)
        avail = self.unpadded.expand(*out.shape[:-1], -1)
        actions, _ = self.head.act(out, avail, explore=True)
        pi = masked_logits(out, avail).softmax(-1)
        baseline, _ = counterfactual_advantage(self.denormalise(self.q_values(state, actions)), pi, actions)
        return baseline

    def learn(self, buffer: RolloutBuffer, t_env: int) -> dict[str, float]:
        cfg = self.config
        self.anneal_learning_rates(t_env - buffer.length * buffer.n_envs)
        _, targets = buffer.advantages(cfg.gamma, cfg.gae_lambda)  # TD(lambda) targets of Q(s_t, u_t)
        mask = buffer.alive.float()
        if cfg.normalise_values:
            self.value_norm.update(targets[buffer.alive])

        q = self.q_values(buffer.state, buffer.actions, buffer.alive)
        q_taken = q.gather(-1, buffer.actions.unsqueeze(-1)).squeeze(-1)
        critic_loss = masked_mean((q_taken - self.normalise(targets)).pow(2), mask)

        recurrent = buffer.hidden0 is not None
        out = unroll(self.actor, buffer.obs, buffer.starts, buffer.hidden0[0] if recurrent else None, recurrent)
        log_pi = F.log_softmax(masked_logits(out, buffer.avail), dim=-1)
        pi = log_pi.exp()
        _, advantages = counterfactual_advantage(self.denormalise(q.detach()), pi.detach(), buffer.actions)
        if cfg.normalise_advantages:
            advantages = standardise(advantages, buffer.alive)
        log_pi_taken = log_pi.gather(-1, buffer.actions.unsqueeze(-1)).squeeze(-1)
        policy_loss = -masked_mean(log_pi_taken * advantages, mask)
        entropy = masked_mean(-(pi * log_pi).sum(-1), mask)

        grad_norm = self.optimise(policy_loss - cfg.entropy_coef * entropy + critic_loss)
        self.updates += 1
        return {"loss/policy": float(policy_loss.detach()), "loss/value": float(critic_loss.detach()),
                "loss/entropy": float(entropy.detach()), "loss/advantage_mean": float(masked_mean(advantages, mask)),
                "loss/actor_grad_norm": float(grad_norm)}
