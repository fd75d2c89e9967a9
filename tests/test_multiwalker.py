"""multiwalker (pettingzoo[sisl]): Box actions, walkers that fall and leave, and the alive mask."""

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo.sisl")

from ctde_helpers import spy_on_actions  # noqa: E402
from marlzoo.config import load_config  # noqa: E402
from marlzoo.training.loops import make_loop  # noqa: E402
from marlzoo.training.trainer import build_algorithm, make_vector_env  # noqa: E402
from tests.conftest import learn_step  # noqa: E402

torch.set_num_threads(1)
REMOVAL = ["env.kwargs.terminate_on_fall=false", "env.kwargs.remove_on_fall=true"]


def setup(algo, *sets, n_envs=2):
    cfg = load_config(algo, "multiwalker", sets=["wandb.mode=disabled", f"n_envs={n_envs}", *sets])
    torch.manual_seed(0)
    venv = make_vector_env(cfg, cfg.n_envs)
    algo_obj = build_algorithm(cfg, venv.spec)
    return venv, algo_obj, make_loop(algo_obj, venv, 0, algo)


def params_finite(module_or_algo):
    return all(torch.isfinite(p).all() for p in module_or_algo.parameters())


def test_multiwalker_spec_is_three_walkers_with_box4_actions_in_minus_one_one():
    venv, algo, _ = setup("mappo", n_envs=1)
    spec = venv.spec
    assert spec.n_agents == 3 and spec.action_kind == "continuous" and spec.n_actions == 4
    assert spec.action_low == ((-1.0,) * 4,) * 3 and spec.action_high == ((1.0,) * 4,) * 3
    assert spec.episode_limit == 500


def test_mappo_runs_on_multiwalker_with_walkers_removed_and_masks_them_out_of_the_loss():
    venv, algo, loop = setup("mappo", *REMOVAL, "algo.rollout_length=150", "algo.log_std_init=1.0")
    sent = spy_on_actions(venv)
    collected = loop.iterate(0)
    b = loop.buffer
    assert len(sent) > 0
    assert (~b.alive).any(), "some walker should have fallen and left within 150 random steps"
    assert (b.alive.sum(-1) >= 1).all()  # an episode ends when the last walker leaves
    assert all(np.isfinite(v) for v in collected.learn_metrics[0].values())
    assert params_finite(algo.actor) and params_finite(algo.critic)
    assert np.isfinite(collected.returns).all()

    # Whatever sits in the padded steps of departed walkers changes nothing the learner does.
    dead = ~b.alive
    first, second = copy.deepcopy(algo), copy.deepcopy(algo)
    torch.manual_seed(1)
    m1 = first.learn(b, 0)
    b.obs[dead] = torch.randn_like(b.obs[dead]) * 3
    b.actions[dead] = torch.randn_like(b.actions[dead]) * 3
    b.log_prob[dead] = torch.randn_like(b.log_prob[dead]) * 3
    b.value[dead] = torch.randn_like(b.value[dead]) * 30
    torch.manual_seed(1)
    m2 = second.learn(b, 0)
    assert m1 == m2
    for p, q in zip(first.actor.parameters(), second.actor.parameters()):
        assert torch.equal(p, q)


def test_maddpg_runs_on_multiwalker_with_walkers_removed_and_masks_them_out_of_the_loss():
    venv, algo, loop = setup("maddpg", *REMOVAL, "algo.batch_size=2", "algo.noise_std=1.0", "env.episode_limit=150")
    sent = spy_on_actions(venv)
    loop.iterate(0)
    collected = loop.iterate(0)
    batch = loop.buffer.storage.select(torch.arange(loop.buffer.size))
    alive = batch.alive[:, :-1] & batch.filled.unsqueeze(-1)
    assert len(sent) > 0 and (batch.filled.unsqueeze(-1) & ~batch.alive[:, :-1]).any()
    metrics = [m for m in collected.learn_metrics if m]
    assert metrics and all(np.isfinite(v) for m in metrics for v in m.values())
    assert params_finite(algo.actor) and params_finite(algo.critic)

    # padded steps of departed walkers: scramble their observations and actions, learn the same
    dead = loop.buffer.storage.filled.unsqueeze(-1) & ~loop.buffer.storage.alive[:, :-1]
    dead_obs = ~loop.buffer.storage.alive
    assert alive.any() and dead.any()
    first, second = copy.deepcopy(algo), copy.deepcopy(algo)
    torch.manual_seed(1)
    m1 = learn_step(first, loop.buffer, 0)
    storage = loop.buffer.storage
    storage.obs[dead_obs] = torch.randn_like(storage.obs[dead_obs]) * 3
    storage.actions[dead] = torch.randn_like(storage.actions[dead]) * 3
    torch.manual_seed(1)
    m2 = learn_step(second, loop.buffer, 0)
    assert m1 and m1 == m2
    for p, q in zip(first.actor.parameters(), second.actor.parameters()):
        assert torch.equal(p, q)


def test_greedy_evaluation_on_multiwalker_sends_actions_inside_the_box():
    from marlzoo.training.runner import EpisodeRunner

    venv, algo, _ = setup("mappo", "algo.log_std_init=1.0", n_envs=2)
    sent = spy_on_actions(venv)
    returns = EpisodeRunner(venv, seed=3).evaluate(algo, 2)
    assert len(sent) > 0 and np.isfinite(returns).all()
