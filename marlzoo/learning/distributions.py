"""Action distributions for the actor-critic algorithms, written as plain tensor formulas.

* Discrete: a categorical over the *available* actions (unavailable logits are pushed to a large
  negative number, so they get probability 0 and never NaN), and the straight-through
  Gumbel-softmax that lets a deterministic-policy-gradient critic differentiate through a choice.
* Box: :class:`ActionBounds` maps an unbounded vector ``u`` into ``[low, high]`` by a squash,
  ``a = center + half * tanh(u)``; :func:`squashed_gaussian_log_prob` is the exact density of ``a``
  when ``u`` is Gaussian (change of variables). Padded action dimensions (agents with fewer
  dimensions than the widest one) are masked out of every sum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

MASKED_LOGIT = -1e9
_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- discrete
def masked_logits(logits: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """``logits`` with unavailable actions (``avail`` False) made (finitely) impossible."""
    return logits.masked_fill(~avail, MASKED_LOGIT)


def categorical_sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One sample per row of ``softmax(logits)`` by the Gumbel-max trick (one argmax, no softmax)."""
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device)
    return (logits - torch.log(-torch.log(uniform.clamp_min(1e-20)))).argmax(dim=-1)


def categorical_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[action]`` per row (logits already masked)."""
    return F.log_softmax(logits, dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def categorical_log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log softmax(logits)[action]`` and the entropy, per row (logits already masked)."""
    log_p = F.log_softmax(logits, dim=-1)
    chosen = log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return chosen, entropy


def gumbel_softmax_st(logits: torch.Tensor, avail: torch.Tensor, temperature: float = 1.0,
                      sample: bool = True) -> torch.Tensor:
    """Straight-through Gumbel-softmax over the available actions.

    The forward value is the one-hot of ``argmax(logits + g)`` (``g`` Gumbel noise, or none with
    ``sample=False``); the backward pass takes the gradient of ``softmax((logits + g) / T)``.
    Unavailable actions are exactly 0 in both.
    """
    logits = masked_logits(logits, avail)
    if sample:
        uniform = torch.rand_like(logits).clamp_min(1e-20)
        logits = logits - torch.log(-torch.log(uniform))
    soft = F.softmax(logits / temperature, dim=-1)
    hard = F.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
    return hard + (soft - soft.detach())


# ----------------------------------------------------------------------------- Box
class ActionBounds:
    """The Box bounds of every agent as ``[n_agents, D]`` tensors, and the squash into them."""

    def __init__(self, spec: EnvSpec, device: str | torch.device = "cpu") -> None:
        N, D = spec.n_agents, spec.n_actions
        low = torch.full((N, D), -1.0)
        high = torch.full((N, D), 1.0)
        self.dims = torch.zeros(N, D, dtype=torch.bool)
        for i, (lo, hi) in enumerate(zip(spec.action_low, spec.action_high)):
            low[i, : len(lo)] = torch.tensor(lo)
            high[i, : len(hi)] = torch.tensor(hi)
            self.dims[i, : len(lo)] = True
        self.low, self.high = low.to(device), high.to(device)
        self.center = (low + high).div(2).to(device)
        self.half = (high - low).div(2).to(device)
        self.dims = self.dims.to(device)
        self.dims_f = self.dims.float()
        self.log_half = torch.where(self.dims, self.half.clamp_min(1e-12).log(), torch.zeros_like(self.half))

    @staticmethod
    def check(spec: EnvSpec, algo_name: str) -> None:
        """A :class:`UserError` unless every Box bound is finite (a squash needs both ends)."""
        if spec.action_kind != "continuous":
            return
        for name, lo, hi in zip(spec.agents, spec.action_low, spec.action_high):
            if not all(math.isfinite(x) for x in (*lo, *hi)):
                raise UserError(
                    f"algorithm '{algo_name}' maps its actions into the Box bounds, but agent '{name}' of env "
                    f"'{spec.env_id}' has unbounded actions (low {lo}, high {hi}); wrap the env so its "
                    "action space has finite bounds"
                )

    def squash(self, u: torch.Tensor) -> torch.Tensor:
        """``center + half * tanh(u)``: inside ``[low, high]`` for every ``u``."""
        return torch.addcmul(self.center, self.half, torch.tanh(u))

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions rescaled to ``[-1, 1]`` (0 on padded dimensions)."""
        return ((actions - self.center) / self.half.clamp_min(1e-12)) * self.dims_f

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        """Actions in ``[-1, 1]`` mapped to the bounds (clamped first, so always inside them)."""
        return torch.addcmul(self.center, self.half, unit.clamp(-1.0, 1.0))


def squashed_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor,
                               bounds: ActionBounds) -> torch.Tensor:
    """Exact ``log p(a)`` of ``a = bounds.squash(u)``, ``u ~ N(mean, exp(log_std)^2)``, summed over dims.

    By the change of variables, ``log p(a) = log N(u) - sum log(half * (1 - tanh(u)^2))``, with the
    stable identity ``log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))``.
    """
    z = (u - mean) * torch.exp(-log_std)
    gauss = -0.5 * z.pow(2) - log_std - 0.5 * _LOG_2PI
    log_det = bounds.log_half + 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return ((gauss - log_det) * bounds.dims_f).sum(dim=-1)


def gaussian_entropy(log_std: torch.Tensor, bounds: ActionBounds) -> torch.Tensor:
    """Entropy of the pre-squash Gaussian per agent ``[n_agents]`` (the squashed one has no closed form)."""
    return ((0.5 + 0.5 * _LOG_2PI + log_std) * bounds.dims_f).sum(dim=-1)
