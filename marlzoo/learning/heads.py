"""Action heads: what turns an actor network's output into actions, picked once from the EnvSpec.

An algorithm asks :func:`make_action_head` (stochastic policies) or :func:`make_deterministic_head`
(deterministic policies) for the head that fits the env's action space, and never branches on the
action kind itself. The actor's output is ``out [..., n_agents, head.out_dim]``; ``avail
[..., n_agents, n_actions]`` masks discrete actions (Box heads ignore it).

Stochastic heads (:class:`ActionHead`):
  * :class:`MaskedCategorical`: a categorical over the available actions; greedy is the most likely one.
  * :class:`SquashedGaussian`: ``u ~ N(out, exp(log_std))`` squashed into the bounds,
    ``a = centre + half * tanh(u)``, with a learnt state-independent ``log_std`` of its own (one for
    all agents, or one per agent). The buffer keeps ``u``; log-probabilities include the change of
    variables; greedy is ``u = out``.

Deterministic heads (:class:`DeterministicHead`), for policies trained through a critic:
  * :class:`GumbelOneHot`: one-hot actions from the straight-through Gumbel-softmax.
  * :class:`TanhBox`: ``tanh(out)`` in [-1, 1], mapped into the bounds; exploration adds Gaussian noise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.distributions import (
    ActionBounds,
    categorical_log_prob,
    categorical_log_prob_entropy,
    categorical_sample,
    gaussian_entropy,
    gumbel_softmax_st,
    masked_logits,
    squashed_gaussian_log_prob,
)


class ActionHead(nn.Module, ABC):
    """A stochastic policy's action distribution over the actor's output (see the module docstring).

    Its parameters (a Gaussian's ``log_std``) belong to the actor: optimise ``head.parameters()``
    with it, and save ``head.state_dict()`` with it.
    """

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim

    @abstractmethod
    def act(self, out: torch.Tensor, avail: torch.Tensor, explore: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(env actions, stored actions)``: a sample if ``explore``, else the greedy action."""

    @abstractmethod
    def log_prob(self, out: torch.Tensor, avail: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log pi(actions)`` per agent ``[..., n_agents]``, for actions as :meth:`act` stored them."""

    @abstractmethod
    def log_prob_entropy(self, out: torch.Tensor, avail: torch.Tensor,
                         actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`log_prob` and the entropy, both ``[..., n_agents]``."""

    @abstractmethod
    def uniform(self, avail: torch.Tensor) -> torch.Tensor:
        """Uniformly random env actions for ``avail [B, n_agents, n_actions]``: random play."""

    def log_info(self) -> dict[str, float]:
        """Scalars worth logging about the head itself (the Gaussian's mean std)."""
        return {}


class MaskedCategorical(ActionHead):
    """A categorical over the available actions; unavailable ones get probability exactly 0."""

    def act(self, out, avail, explore):
        logits = masked_logits(out, avail)
        actions = categorical_sample(logits) if explore else logits.argmax(dim=-1)
        return actions, actions

    def log_prob(self, out, avail, actions):
        return categorical_log_prob(masked_logits(out, avail), actions)

    def log_prob_entropy(self, out, avail, actions):
        return categorical_log_prob_entropy(masked_logits(out, avail), actions)

    def uniform(self, avail):
        # The argmax of uniform scores over the available actions is a uniform choice among them.
        return torch.rand(avail.shape, device=avail.device).masked_fill_(~avail, -1.0).argmax(dim=-1)


class SquashedGaussian(ActionHead):
    """A Gaussian in the unbounded space, squashed into the Box bounds by ``tanh``.

    The log-std is one ``log_std [n_actions]`` shared by all agents, or with ``per_agent`` one
    Parameter per agent in ``log_stds`` (agents whose policies must move one at a time, as in HAPPO).
    """

    def __init__(self, spec: EnvSpec, log_std_init: float = -0.5, device: str | torch.device = "cpu",
                 per_agent: bool = False) -> None:
        super().__init__(spec.n_actions)
        self.bounds = ActionBounds(spec, device)
        self.log_stds: nn.ParameterList | None = None
        if per_agent:  # one Parameter per agent: an optimiser step on one agent's leaves the others' alone
            self.log_stds = nn.ParameterList(
                nn.Parameter(torch.full((spec.n_actions,), log_std_init, device=device)) for _ in spec.agents)
        else:
            self.log_std = nn.Parameter(torch.full((spec.n_actions,), log_std_init, device=device))

    def current_log_std(self) -> torch.Tensor:
        """The log-std: ``[n_actions]`` shared by all agents, or ``[n_agents, n_actions]`` per agent."""
        return self.log_std if self.log_stds is None else torch.stack(tuple(self.log_stds))

    def act(self, out, avail, explore):
        u = out + torch.randn_like(out) * self.current_log_std().exp() if explore else out
        return self.bounds.squash(u), u

    def log_prob(self, out, avail, actions):
        return squashed_gaussian_log_prob(actions, out, self.current_log_std(), self.bounds)

    def log_prob_entropy(self, out, avail, actions):
        log_prob = self.log_prob(out, avail, actions)
        return log_prob, gaussian_entropy(self.current_log_std(), self.bounds).expand_as(log_prob)

    def uniform(self, avail):
        low, high = self.bounds.low, self.bounds.high
        unit = torch.rand(*avail.shape[:2], low.shape[-1], device=low.device)
        return low + (high - low) * unit

    def log_info(self) -> dict[str, float]:
        return {"action_std": float(self.current_log_std().detach().exp().mean())}


def make_action_head(spec: EnvSpec, log_std_init: float = -0.5, device: str | torch.device = "cpu",
                     per_agent: bool = False) -> ActionHead:
    """The stochastic head for the env's actions: a masked categorical, or a squashed Gaussian
    (with a log-std per agent if ``per_agent``)."""
    if spec.action_kind == "discrete":
        return MaskedCategorical(spec.n_actions).to(device)
    return SquashedGaussian(spec, log_std_init, device, per_agent)


class DeterministicHead(ABC):
    """A deterministic policy's actions, and the form a critic sees them in (see the module docstring)."""

    def __init__(self, out_dim: int) -> None:
        self.out_dim = out_dim

    @abstractmethod
    def act(self, out: torch.Tensor, avail: torch.Tensor, explore: bool) -> torch.Tensor:
        """Env actions: with exploration noise if ``explore``, else greedy."""

    @abstractmethod
    def relaxed(self, out: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """The policy's actions as critic input ``[..., n_agents, out_dim]``, differentiable in ``out``."""

    @abstractmethod
    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """Stored env actions as critic input, in the same form as :meth:`relaxed`."""

    def penalty(self, out: torch.Tensor, avail: torch.Tensor) -> torch.Tensor | None:
        """A per-agent regulariser of the actor's output ``[..., n_agents]``, if the head has one."""
        return None


class GumbelOneHot(DeterministicHead):
    """One-hot actions: straight-through Gumbel-softmax over the available actions."""

    def __init__(self, n_actions: int, temperature: float = 1.0) -> None:
        super().__init__(n_actions)
        self.temperature = temperature

    def act(self, out, avail, explore):
        logits = masked_logits(out, avail)
        return categorical_sample(logits) if explore else logits.argmax(dim=-1)

    def relaxed(self, out, avail):
        return gumbel_softmax_st(out, avail, self.temperature, sample=True)

    def encode(self, actions):
        return F.one_hot(actions, self.out_dim).float()

    def penalty(self, out, avail):
        """The mean squared logit over the available actions: it keeps the logits from drifting."""
        avail = avail.float()
        return (out.pow(2) * avail).sum(-1) / avail.sum(-1).clamp_min(1.0)


class TanhBox(DeterministicHead):
    """``tanh(out)`` in [-1, 1] (0 on padded dimensions), mapped into the Box bounds."""

    def __init__(self, spec: EnvSpec, noise_std: float = 0.1, device: str | torch.device = "cpu") -> None:
        super().__init__(spec.n_actions)
        self.bounds = ActionBounds(spec, device)
        self.noise_std = noise_std

    def act(self, out, avail, explore):
        unit = torch.tanh(out)
        if explore:
            unit = unit + self.noise_std * torch.randn_like(unit)
        return self.bounds.from_unit(unit)

    def relaxed(self, out, avail):
        return torch.tanh(out) * self.bounds.dims_f

    def encode(self, actions):
        return self.bounds.to_unit(actions)


def make_deterministic_head(spec: EnvSpec, temperature: float = 1.0, noise_std: float = 0.1,
                            device: str | torch.device = "cpu") -> DeterministicHead:
    """The deterministic head for the env's actions: Gumbel one-hots, or tanh into the bounds."""
    if spec.action_kind == "discrete":
        return GumbelOneHot(spec.n_actions, temperature)
    return TanhBox(spec, noise_std, device)
