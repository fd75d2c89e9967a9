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
    :class:`StateSquashedGaussian` is the same with the log-std read from the actor's output too.

For the soft actor-critics, a stochastic head also gives the terms of an expectation under the
policy (:meth:`ActionHead.expectation_terms`: every available action with its probability, or
one reparameterised sample), actions as a critic sees them (:meth:`ActionHead.encode`), and the
target entropy of its action space (:meth:`ActionHead.target_entropy`).

Deterministic heads (:class:`DeterministicHead`), for policies trained through a critic:
  * :class:`GumbelOneHot`: one-hot actions from the straight-through Gumbel-softmax.
  * :class:`TanhBox`: ``tanh(out)`` in [-1, 1], mapped into the bounds; exploration adds Gaussian noise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

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


class ExpectationTerms(NamedTuple):
    """An expectation under the policy, ``E_pi[f(a)] = sum_k weights_k * f(actions_k)``, per agent.

    ``actions [..., n, K, A]`` as critic input, ``weights [..., n, K]`` (summing to 1 over K) and
    ``log_probs [..., n, K]`` (``log pi(actions_k)``; 0 where the weight is exactly 0), all
    differentiable in the actor's output; ``sample [..., n, A]`` is one action drawn from the policy,
    as critic input.
    """

    actions: torch.Tensor
    weights: torch.Tensor
    log_probs: torch.Tensor
    sample: torch.Tensor


class ActionHead(nn.Module, ABC):
    """A stochastic policy's action distribution over the actor's output (see the module docstring).

    Its parameters (a Gaussian's ``log_std``) belong to the actor: optimise ``head.parameters()``
    with it, and save ``head.state_dict()`` with it.
    """

    # True if expectation_terms runs over every action, in order, as one-hots: a critic can then
    # give one value per action instead of taking the action as an input
    enumerates_actions = False

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

    @abstractmethod
    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions as a critic sees them ``[..., n_agents, n_actions]``: one-hot, or in [-1, 1]."""

    @abstractmethod
    def expectation_terms(self, out: torch.Tensor, avail: torch.Tensor) -> ExpectationTerms:
        """The terms of an expectation under the policy (see :class:`ExpectationTerms`)."""

    @abstractmethod
    def target_entropy(self, avail: torch.Tensor, discrete_weight: float, per_dimension: float) -> torch.Tensor:
        """A soft actor-critic's target entropy per agent (broadcasting against ``avail [..., n, A]``'s
        ``[..., n]``): ``discrete_weight`` times the uniform policy's entropy for a categorical,
        ``per_dimension`` nats per action dimension, on the action rescaled to [-1, 1], for a Box."""

    def log_info(self) -> dict[str, float]:
        """Scalars worth logging about the head itself (the Gaussian's mean std)."""
        return {}


class MaskedCategorical(ActionHead):
    """A categorical over the available actions; unavailable ones get probability exactly 0."""

    enumerates_actions = True

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

    def encode(self, actions):
        return F.one_hot(actions, self.out_dim).float()

    def expectation_terms(self, out, avail):
        """Exact: every action, weighted by its probability (unavailable ones by exactly 0)."""
        logits = masked_logits(out, avail)
        weights = F.softmax(logits, dim=-1)
        log_probs = F.log_softmax(logits, dim=-1).masked_fill(~avail, 0.0)
        every = torch.eye(self.out_dim, device=out.device).expand(*out.shape, self.out_dim)
        return ExpectationTerms(every, weights, log_probs, self.encode(categorical_sample(logits)))

    def target_entropy(self, avail, discrete_weight, per_dimension):
        return discrete_weight * avail.sum(-1).clamp_min(1).float().log()


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

    def mean_log_std(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian's mean and log-std, from the actor's output."""
        return out, self.current_log_std()

    def act(self, out, avail, explore):
        mean, log_std = self.mean_log_std(out)
        u = mean + torch.randn_like(mean) * log_std.exp() if explore else mean
        return self.bounds.squash(u), u

    def log_prob(self, out, avail, actions):
        mean, log_std = self.mean_log_std(out)
        return squashed_gaussian_log_prob(actions, mean, log_std, self.bounds)

    def log_prob_entropy(self, out, avail, actions):
        log_prob = self.log_prob(out, avail, actions)
        return log_prob, gaussian_entropy(self.mean_log_std(out)[1], self.bounds).expand_as(log_prob)

    def uniform(self, avail):
        low, high = self.bounds.low, self.bounds.high
        unit = torch.rand(*avail.shape[:2], low.shape[-1], device=low.device)
        return low + (high - low) * unit

    def encode(self, actions):
        return self.bounds.to_unit(actions)

    def expectation_terms(self, out, avail):
        """One reparameterised sample ``u = mean + std * eps``, weight 1, with its exact log-density."""
        mean, log_std = self.mean_log_std(out)
        u = mean + torch.randn_like(mean) * log_std.exp()
        log_prob = squashed_gaussian_log_prob(u, mean, log_std, self.bounds).unsqueeze(-1)
        unit = torch.tanh(u) * self.bounds.dims_f
        return ExpectationTerms(unit.unsqueeze(-2), torch.ones_like(log_prob), log_prob, unit)

    def target_entropy(self, avail, discrete_weight, per_dimension):
        # The log-probabilities are of the env's actions: rescaling [-1, 1] to [low, high] adds log(half).
        return ((per_dimension + self.bounds.log_half) * self.bounds.dims_f).sum(-1)

    def log_info(self) -> dict[str, float]:
        return {"action_std": float(self.current_log_std().detach().exp().mean())}


class StateSquashedGaussian(SquashedGaussian):
    """:class:`SquashedGaussian` with a state-dependent std, as in SAC: the actor outputs the mean and
    the log-std (``out [..., 2 * D]``), and ``log_std = clamp(out[..., D:] + log_std_init, -20, 2)``."""

    LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

    def __init__(self, spec: EnvSpec, log_std_init: float = 0.0, device: str | torch.device = "cpu") -> None:
        ActionHead.__init__(self, 2 * spec.n_actions)
        self.bounds = ActionBounds(spec, device)
        self.log_std_init = log_std_init

    def mean_log_std(self, out):
        mean, raw = out.chunk(2, dim=-1)
        return mean, (raw + self.log_std_init).clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)

    def log_info(self) -> dict[str, float]:
        return {}


def make_action_head(spec: EnvSpec, log_std_init: float = -0.5, device: str | torch.device = "cpu",
                     state_dependent_std: bool = False, per_agent: bool = False) -> ActionHead:
    """The stochastic head for the env's actions: a masked categorical, or a squashed Gaussian (whose
    log-std is a parameter of its own, with ``per_agent`` one per agent, or with
    ``state_dependent_std`` read from the actor's output)."""
    if spec.action_kind == "discrete":
        return MaskedCategorical(spec.n_actions).to(device)
    if state_dependent_std:
        return StateSquashedGaussian(spec, log_std_init, device)
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
