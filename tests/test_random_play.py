"""The built-in random-play baseline: uniform over the available actions, uniform inside the Box."""

from __future__ import annotations

import torch

from marlzoo.algos.random_play import RandomPlay
from marlzoo.config import load_config
from marlzoo.training.trainer import make_vector_env
from tests.test_buffer import make_spec


def test_discrete_choice_is_uniform_over_the_available_actions_only():
    torch.manual_seed(0)
    policy = RandomPlay(make_spec())
    avail = torch.tensor([[True, False, True, True], [False, False, True, False]]).expand(20000, 2, 4)
    actions, _ = policy.act(torch.zeros(20000, 2, 3), avail, None, explore=True, t_env=0)
    counts = torch.stack([torch.bincount(actions[:, i], minlength=4) for i in range(2)]).float() / 20000
    assert counts[0, 1] == 0 and torch.allclose(counts[0, [0, 2, 3]], torch.full((3,), 1 / 3), atol=0.02)
    assert counts[1].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_box_actions_fill_the_bounds_of_continuous_simple_spread():
    torch.manual_seed(0)
    config = load_config("random", "simple_spread", sets=["env.kwargs.continuous_actions=true", "wandb.mode=disabled"])
    venv = make_vector_env(config, 1)
    spec = venv.spec
    venv.close()
    avail = torch.ones(5000, spec.n_agents, 1, dtype=torch.bool)  # what the adapter gives Box agents
    actions, _ = RandomPlay(spec).act(torch.zeros(5000, spec.n_agents, spec.obs_dim), avail, None, explore=False, t_env=0)
    low, high = torch.tensor(spec.action_low[0]), torch.tensor(spec.action_high[0])
    assert actions.shape == (5000, spec.n_agents, len(low))
    assert bool(((actions >= low) & (actions <= high)).all())
    # Uniform in the box: the mean sits at the centre and both ends are reached.
    assert torch.allclose(actions.mean(dim=(0, 1)), (low + high) / 2, atol=0.02)
    assert bool((actions.amin(dim=(0, 1)) < low + 0.01).all() and (actions.amax(dim=(0, 1)) > high - 0.01).all())
