"""Action-value critics ``Q_i(x_i, actions)`` for the off-policy actor-critics (MADDPG, IDDPG, MASAC, ISAC).

A critic is an :class:`~marlzoo.learning.nets.AgentNetwork` with one output (but see
``per_action_values`` below), built by
:func:`~marlzoo.learning.nets.build_network`; a *view* says what it sees, and evaluates it:

* :class:`JointActionView`, centralised: ``Q_i(s, a_1, ..., a_n)``, the global state and every
  agent's action (MADDPG, MASAC);
* :class:`OwnActionView`, decentralised: ``Q_i(o_i, a_i)``, the agent's own observation and action
  (IDDPG, ISAC).

Actions reach a critic as the heads encode them (one-hot vectors, or Box actions in [-1, 1]):
``actions [B, T, n, A]``. :meth:`CriticView.q` values either those actions, or, in agent i's
critic, agent i's own action replaced by ``own[..., i, :]`` (its policy's action, the others' kept),
or K such candidates per agent, ``own [B, T, n, K, A]`` (every discrete action, for an exact
expectation over the agent's own policy).

A view with ``per_action_values`` builds critics that take the agent's own action as an output
instead of an input: ``Q_i(x_i, a_-i, .)``, one value per action of agent i (the discrete SAC
critic; agent i's own slot of the joint action is zero). ``Q_i`` at an own action is then the
dot product of those values with its one-hot, so every own action costs one forward pass.

:class:`OffPolicyActorCritic` is what those algorithms share around their losses: the update
schedule, the actor's hidden state, reward standardisation and saving their state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any, ClassVar

import torch
from torch import nn

from marlzoo.algorithm import ReplayAlgorithm
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.nets import AgentNetConfig, AgentNetwork, build_network
from marlzoo.learning.normalise import RewardStandardiser
from marlzoo.training.buffers import EpisodeBatch


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) * target + tau * source``, parameter by parameter, in one fused call."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` where ``mask`` (a float 0/1 tensor of the same shape) is 1."""
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


class CriticView(ABC):
    """What an action-value critic sees; subclasses set :attr:`source` and define the two inputs."""

    source = "state"  # what build_network reads: "state" (one copy per agent) or "obs"

    def __init__(self, spec: EnvSpec, device: str | torch.device = "cpu", per_action_values: bool = False) -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.per_action_values = per_action_values

    @property
    @abstractmethod
    def extra_dim(self) -> int:
        """Size of the action vector joined to the critic's input."""
        raise NotImplementedError

    def build(self, config: AgentNetConfig) -> AgentNetwork:
        """A critic that sees what this view says: one output, or one per own action."""
        out_dim = self.spec.n_actions if self.per_action_values else 1
        return build_network(self.spec, config, out_dim, source=self.source, extra_dim=self.extra_dim).to(self.device)

    @abstractmethod
    def inputs(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The critic's per-agent input ``[B, T, n, *in]`` from ``obs [B, T, n, *obs]`` and ``state [B, T, S]``."""
        raise NotImplementedError

    @abstractmethod
    def extra(self, actions: torch.Tensor, own: torch.Tensor | None) -> torch.Tensor | None:
        """The per-agent action vector ``[B, T, n, extra_dim]`` (see :meth:`q` for the arguments)."""
        raise NotImplementedError

    def q(self, critic: AgentNetwork, x: torch.Tensor, actions: torch.Tensor,
          own: torch.Tensor | None = None) -> torch.Tensor:
        """``Q_i`` of every agent: ``[B, T, n]``, or ``[B, T, n, K]`` for K candidates.

        ``x`` is :meth:`inputs`' output, ``actions [B, T, n, A]`` the joint action; ``own`` None, or
        agent i's own action in its critic ``[B, T, n, A]``, or K candidates of it ``[B, T, n, K, A]``.
        """
        if self.per_action_values:
            values, _ = critic.unroll(x, extra=self.extra(actions, None))  # [B, T, n, A]
            own = actions if own is None else own
            return (values.unsqueeze(-2) * own).sum(-1) if own.dim() > values.dim() else (values * own).sum(-1)
        if own is not None and own.dim() > actions.dim():  # fold the K candidates into the batch
            B, K = own.shape[0], own.shape[-2]

            def fold(t: torch.Tensor) -> torch.Tensor:
                return t.unsqueeze(1).expand(B, K, *t.shape[1:]).flatten(0, 1)

            q = self.q(critic, fold(x), fold(actions), own.movedim(-2, 1).flatten(0, 1))
            return q.unflatten(0, (B, K)).movedim(1, -1)
        out, _ = critic.unroll(x, extra=self.extra(actions, own))
        return out.squeeze(-1)


class JointActionView(CriticView):
    """Centralised: ``Q_i(s, a_1, ..., a_n)``, the state (with agent i's id) and the joint action."""

    source = "state"

    def __init__(self, spec: EnvSpec, device: str | torch.device = "cpu", per_action_values: bool = False) -> None:
        super().__init__(spec, device, per_action_values)
        self.own_slot = torch.eye(spec.n_agents, dtype=torch.bool, device=self.device).unsqueeze(-1)  # [i, j, 1]

    @property
    def extra_dim(self) -> int:
        return self.spec.n_agents * self.spec.n_actions

    def inputs(self, obs, state):
        return state.unsqueeze(-2).expand(*state.shape[:-1], self.spec.n_agents, state.shape[-1])

    def extra(self, actions, own):
        N = self.spec.n_agents
        if self.per_action_values:  # row i: the others' actions, agent i's own slot zero
            joint = actions.unsqueeze(-3).masked_fill(self.own_slot, 0.0)
        elif own is None:  # the same joint action in every agent's critic
            joint = actions.unsqueeze(-3).expand(*actions.shape[:-2], N, *actions.shape[-2:])
        else:  # row i: agent i's own action from ``own``, the others' from ``actions``
            joint = torch.where(self.own_slot, own.unsqueeze(-3), actions.unsqueeze(-3))
        return joint.flatten(-2)


class OwnActionView(CriticView):
    """Decentralised: ``Q_i(o_i, a_i)``, the agent's own observation and its own action only."""

    source = "obs"

    @property
    def extra_dim(self) -> int:
        return 0 if self.per_action_values else self.spec.n_actions

    def inputs(self, obs, state):
        return obs

    def extra(self, actions, own):
        if self.per_action_values:
            return None
        return actions if own is None else own


def check_schedule(update_every: int, tau: float) -> None:
    """The config checks every off-policy actor-critic makes: ``update_every >= 1``, ``tau`` in (0, 1]."""
    if update_every < 1:
        raise ValueError(f"update_every must be at least 1, not {update_every}")
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], not {tau}")


class OffPolicyActorCritic(ReplayAlgorithm):
    """A replay actor-critic: an ``actor`` network, critics seen through :attr:`critic_view`, one update
    per ``config.update_every`` episodes, optional reward standardisation (``config.standardise_rewards``, counting ``config.reward_stats``).

    A subclass builds its networks and optimisers in ``__init__`` (after calling this one) and lists
    their attribute names in :attr:`checkpointed`, which :meth:`state_dict` saves in that order.
    """

    critic_view: ClassVar[type[CriticView]] = JointActionView
    checkpointed: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: EnvSpec, config: Any, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.reward_standardiser = RewardStandardiser(config.reward_stats)
        self.updates = 0

    @property
    def updates_per_episode(self) -> Fraction:
        return Fraction(1, self.config.update_every)

    def init_hidden(self, batch: int) -> torch.Tensor | None:
        return self.actor.init_hidden(batch)

    def observe(self, episodes: EpisodeBatch) -> None:
        if self.config.standardise_rewards:
            self.reward_standardiser.observe(episodes.reward, episodes.filled)

    def rewards(self, batch: EpisodeBatch) -> torch.Tensor:
        """The batch's team rewards, standardised by running statistics if configured."""
        if not self.config.standardise_rewards:
            return batch.reward
        return self.reward_standardiser(batch.reward, batch.filled)

    def state_dict(self) -> dict[str, Any]:
        state = {name: getattr(self, name).state_dict() for name in self.checkpointed}
        return {**state, "reward_stats": self.reward_standardiser.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.checkpointed:
            getattr(self, name).load_state_dict(state[name])
        self.reward_standardiser.load_state_dict(state["reward_stats"])
        self.updates = int(state["updates"])
