"""MADDPG: Box actions inside the bounds, Polyak targets, Gumbel-softmax actors, and learning."""

import copy

import numpy as np
import pytest
import torch

from ctde_helpers import spy_on_actions, trained_and_random_returns
from tests.conftest import learn_step
from marlzoo.config import load_config
from marlzoo.training.loops import make_loop
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)


def setup(*sets, n_envs=4):
    cfg = load_config("maddpg", "simple_spread", sets=["wandb.mode=disabled", f"n_envs={n_envs}", *sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    algo = build_algorithm(cfg, venv.spec)
    return venv, algo, make_loop(algo, venv, 0, "maddpg")


def test_continuous_simple_spread_actions_with_exploration_noise_stay_inside_the_box():
    venv, algo, loop = setup("env.kwargs.continuous_actions=true", "algo.noise_std=2.0", "algo.batch_size=4",
                             "env.backend=pettingzoo")  # the actions that reach mpe2's own env
    sent = spy_on_actions(venv)
    loop.iterate(0)
    loop.iterate(0)
    EpisodeRunner(venv, seed=1).evaluate(algo, 4)
    actions = np.stack(sent)
    assert len(actions) == 3 * 25 * 12 and actions.min() >= 0.0 and actions.max() <= 1.0
    assert (actions == 1.0).mean() > 0.05 and (actions == 0.0).mean() > 0.05  # noise was clipped at both ends
    stored = loop.buffer.storage.actions[: loop.buffer.size]
    assert stored.min() >= 0.0 and stored.max() <= 1.0  # the buffer keeps what the env got


def test_targets_follow_the_online_networks_by_polyak_averaging():
    venv, algo, loop = setup("algo.batch_size=4", "algo.tau=0.25")
    loop.iterate(0)
    before = copy.deepcopy(algo)
    assert learn_step(algo, loop.buffer, 0)
    for online, target, old_target in ((algo.actor, algo.target_actor, before.target_actor),
                                       (algo.critic, algo.target_critic, before.target_critic)):
        for p, t, t0 in zip(online.parameters(), target.parameters(), old_target.parameters()):
            assert torch.allclose(t, 0.75 * t0 + 0.25 * p, atol=1e-6)
        assert any(not torch.equal(t, t0) for t, t0 in zip(target.parameters(), old_target.parameters()))


def test_discrete_actors_learn_through_the_critic_and_never_pick_unavailable_actions():
    venv, algo, loop = setup("algo.batch_size=4")
    loop.iterate(0)
    actor_before = [p.detach().clone() for p in algo.actor.parameters()]
    metrics = learn_step(algo, loop.buffer, 0)
    assert np.isfinite(list(metrics.values())).all()
    assert any(not torch.equal(p, q) for p, q in zip(algo.actor.parameters(), actor_before))
    avail = torch.ones(8, 3, 5, dtype=torch.bool)
    avail[:, :, 2:] = False
    actions, _ = algo.act(torch.randn(8, 3, venv.spec.obs_dim), avail, None, explore=True, t_env=0)
    assert (actions < 2).all()


def test_recurrent_and_per_agent_actors_and_critics_learn_from_whole_episodes():
    venv, algo, loop = setup("algo.batch_size=4", "algo.agent.kind=gru", "algo.agent.share_params=false",
                             "algo.critic.kind=gru", n_envs=4)
    loop.iterate(0)
    assert algo.init_hidden(4).shape == (4, 3, algo.config.agent.hidden)
    metrics = learn_step(algo, loop.buffer, 0)
    assert metrics and np.isfinite(list(metrics.values())).all()
    assert len(algo.actor.bodies) == 3


@pytest.mark.slow
def test_maddpg_beats_random_play_on_simple_spread(tmp_path):
    trained, random = trained_and_random_returns("maddpg", [
        "steps=20000", "seed=0", "test_interval=1000000", "test_episodes=8",
        "algo.standardise_rewards=true", "algo.others_actions=policy", "algo.batch_size=32", "algo.update_every=1"],
        tmp_path / "run")
    print(f"maddpg {trained:.1f} random {random:.1f}")
    # observed: trained about -59, random about -78 on these seeds
    assert trained > random + 8, (trained, random)
