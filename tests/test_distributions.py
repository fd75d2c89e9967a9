"""Action distributions: the squashed Gaussian's exact density, Box bounds, the Gumbel-softmax."""

import math

import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from marlzoo.learning.distributions import (
    ActionBounds,
    categorical_log_prob_entropy,
    categorical_sample,
    gumbel_softmax_st,
    masked_logits,
    squashed_gaussian_log_prob,
)
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

torch.set_num_threads(1)


def box_spec(low, high, env_id="box"):
    sizes = tuple(len(lo) for lo in low)
    return EnvSpec(env_id=env_id, agents=tuple(f"a{i}" for i in range(len(low))), obs_shape=(4,), state_dim=8,
                   action_kind="continuous", n_actions=max(sizes), episode_limit=10, reward_aggregation="sum",
                   env_package="test", env_version="0", state_source="concatenated observations",
                   obs_sizes=(4,) * len(low), action_sizes=sizes, action_low=tuple(map(tuple, low)),
                   action_high=tuple(map(tuple, high)))


def test_squashed_gaussian_log_prob_is_the_density_of_the_squashed_action():
    torch.manual_seed(0)
    spec = box_spec([(0.0, 0.0, -2.0)], [(1.0, 1.0, 3.0)])
    bounds = ActionBounds(spec)
    mean, log_std = torch.randn(500, 1, 3), torch.tensor([-0.5, 0.0, 0.3])
    u = mean + torch.randn_like(mean) * log_std.exp()
    ours = squashed_gaussian_log_prob(u, mean, log_std, bounds)
    reference = TransformedDistribution(
        Normal(mean, log_std.exp()),
        [TanhTransform(), AffineTransform(bounds.center, bounds.half)],
    ).log_prob(bounds.squash(u)).sum(-1)
    keep = u.abs().amax(dim=(-1, -2)) < 4  # the reference's atanh loses precision near the bounds
    assert torch.allclose(ours[keep], reference[keep], atol=1e-3)
    # far in the tails ours stays finite where atanh(tanh(u)) does not
    assert torch.isfinite(squashed_gaussian_log_prob(torch.full((1, 1, 3), 30.0), mean[:1], log_std, bounds)).all()


def test_squashed_gaussian_integrates_to_one_over_the_bounds():
    spec = box_spec([(0.0,)], [(2.0,)])
    bounds = ActionBounds(spec)
    a = torch.linspace(1e-5, 2 - 1e-5, 200001).view(-1, 1, 1)
    u = torch.atanh(((a - bounds.center) / bounds.half).double()).float()
    density = squashed_gaussian_log_prob(u, torch.tensor([[[0.4]]]), torch.tensor([-0.3]), bounds).exp()
    assert torch.trapezoid(density.squeeze(), a.squeeze()).item() == pytest.approx(1.0, abs=2e-3)


def test_padded_action_dimensions_do_not_count():
    spec = box_spec([(0.0, 0.0), (-1.0,)], [(1.0, 1.0), (1.0,)])
    bounds = ActionBounds(spec)
    u, mean, log_std = torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), torch.zeros(2)
    base = squashed_gaussian_log_prob(u, mean, log_std, bounds)
    u[0, 1, 1] = 5.0  # agent 1 has one dimension: its padded second one is ignored
    assert torch.equal(squashed_gaussian_log_prob(u, mean, log_std, bounds), base)
    assert bounds.squash(torch.full((2, 2), 50.0))[0].tolist() == [1.0, 1.0]


def test_unbounded_box_actions_are_refused_with_a_clear_error():
    spec = box_spec([(-math.inf, 0.0)], [(math.inf, 1.0)], env_id="open_box")
    with pytest.raises(UserError, match="unbounded actions.*finite bounds"):
        ActionBounds.check(spec, "mappo")


def test_categorical_never_samples_an_unavailable_action_and_masks_its_probability():
    torch.manual_seed(0)
    logits = torch.randn(4000, 5)
    avail = torch.tensor([True, False, True, False, True]).expand(4000, 5)
    masked = masked_logits(logits, avail)
    actions = categorical_sample(masked)
    assert avail.gather(1, actions.unsqueeze(1)).all()
    # the sample frequencies follow softmax over the available actions only
    probs = torch.softmax(logits[:, [0, 2, 4]], -1).mean(0)
    freqs = torch.bincount(actions, minlength=5)[[0, 2, 4]].float() / 4000
    assert torch.allclose(freqs, probs, atol=0.03)
    log_prob, entropy = categorical_log_prob_entropy(masked, actions)
    assert torch.isfinite(log_prob).all() and torch.isfinite(entropy).all()
    assert entropy.max() <= math.log(3) + 1e-5


def test_gumbel_softmax_is_one_hot_forward_and_carries_gradient_backward():
    torch.manual_seed(0)
    logits = torch.randn(64, 3, 6, requires_grad=True)
    avail = torch.rand(64, 3, 6) > 0.3
    avail[..., 0] = True
    y = gumbel_softmax_st(logits, avail, temperature=1.0)
    assert torch.equal(y.detach(), torch.nn.functional.one_hot(y.argmax(-1), 6).float())  # exactly one-hot
    assert (y.detach()[~avail] == 0).all()  # only available actions are chosen
    weights = torch.randn(6)
    (y * weights).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert (logits.grad[~avail] == 0).all()  # no gradient flows into unavailable actions
    # without noise the forward value is the greedy available action
    greedy = gumbel_softmax_st(logits.detach(), avail, sample=False).argmax(-1)
    assert torch.equal(greedy, masked_logits(logits.detach(), avail).argmax(-1))
