"""The on-policy rollout buffer: GAE by hand, and the runner's resets and truncation bootstrap."""

import numpy as np
import pytest
import torch

from marlzoo.config import load_config
from marlzoo.training.loops import RolloutLoop, make_loop
from marlzoo.training.rollouts import RolloutRunner, gae
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)


def test_gae_matches_a_hand_worked_example_with_termination_truncation_and_departure():
    # One env copy, two agents, four steps, gamma = lambda = 0.5.
    # t=0 goes on; t=1 terminates; t=2 is truncated with V(final state) = 10; t=3 goes on into last_value = 3.
    # Agent 1 leaves the episode after t=0, so its return stops there.
    reward = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    value = torch.tensor([[0.5, 1.0, 1.5, 2.0]]).T.unsqueeze(1).repeat(1, 1, 2)  # [T, B, n]
    last_value = torch.tensor([[3.0, 3.0]])
    terminated = torch.tensor([[False], [True], [False], [False]])
    truncated = torch.tensor([[False], [False], [True], [False]])
    next_alive = torch.ones(4, 1, 2, dtype=torch.bool)
    next_alive[0, 0, 1] = False
    bootstrap = torch.zeros(4, 1, 2)
    bootstrap[2, 0] = 10.0
    adv, ret = gae(reward, value, last_value, next_alive, terminated, truncated, bootstrap, 0.5, 0.5)
    # Agent 0, backwards:
    #   t=3: delta = 4 + 0.5*3 - 2 = 3.5;              A = 3.5
    #   t=2: delta = 3 + 0.5*10 - 1.5 = 6.5 (truncated: bootstrap, no carry);  A = 6.5
    #   t=1: delta = 2 + 0 - 1 = 1 (terminated);      A = 1
    #   t=0: delta = 1 + 0.5*1.0 - 0.5 = 1;           A = 1 + 0.25 * 1 = 1.25
    assert adv[:, 0, 0].tolist() == pytest.approx([1.25, 1.0, 6.5, 3.5])
    assert ret[:, 0, 0].tolist() == pytest.approx([1.75, 2.0, 8.0, 5.5])
    # Agent 1 left after t=0: delta = 1 + 0 - 0.5, and nothing later flows back into it.
    assert adv[0, 0, 1].item() == pytest.approx(0.5)
    assert adv[1:, 0, 1].tolist() == pytest.approx([1.0, 6.5, 3.5])


def _mappo(sets=(), env_sets=()):
    cfg = load_config("mappo", "simple_spread", sets=["wandb.mode=disabled", "n_envs=3", *sets, *env_sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    return cfg, venv, build_algorithm(cfg, venv.spec)


def test_runner_resets_finished_copies_and_bootstraps_truncated_ones_from_their_final_state():
    # simple_spread episodes last 25 steps and end truncated; a 40-step rollout crosses one end per copy.
    cfg, venv, algo = _mappo(["algo.rollout_length=40"])
    runner = RolloutRunner(venv, seed=0)
    buffer = algo.make_buffer()
    finals = []
    real_step = venv.step

    def spy(actions, active):  # record the final state each copy reaches before it is reset
        real_step(actions, active)
        if venv.truncated.any():
            finals.append((venv.obs.copy(), venv.state.copy()))

    venv.step = spy
    returns, lengths = runner.collect(algo, buffer, 0)
    assert lengths.tolist() == [25, 25, 25]
    assert buffer.truncated[24].all() and buffer.truncated.sum() == 3 and not buffer.terminated.any()
    assert buffer.starts[0].all() and buffer.starts[25].all() and buffer.starts.sum() == 6
    # the bootstrap is the critic's value of the final state, not of the next episode's first one
    obs, state = finals[0]
    expected = algo.value(torch.from_numpy(obs), torch.from_numpy(state), None)
    assert torch.allclose(buffer.bootstrap[24], expected)
    assert not torch.allclose(buffer.bootstrap[24], buffer.value[25])
    assert (buffer.bootstrap[:24] == 0).all() and (buffer.bootstrap[25:] == 0).all()
    # the returns reported are the sums of the recorded rewards of each finished episode
    assert returns == pytest.approx(buffer.reward[:25].sum(0).double().numpy(), rel=1e-5)
    # episodes carry over: the next rollout starts mid-episode, at step 15 of 25, and sees two more ends
    returns, lengths = runner.collect(algo, buffer, 0)
    assert lengths.tolist() == [25] * 6 and not buffer.starts[0].any()
    assert buffer.truncated[9].all() and buffer.truncated[34].all() and buffer.truncated.sum() == 6


def test_rollout_loop_is_chosen_by_the_buffer_kind_and_reports_steps():
    cfg, venv, algo = _mappo(["algo.rollout_length=10"])
    loop = make_loop(algo, venv, 0, "mappo")
    assert isinstance(loop, RolloutLoop)
    collected = loop.iterate(0)
    assert collected.steps == 30 and len(collected.learn_metrics) == 1
    assert np.isfinite(list(collected.learn_metrics[0].values())).all()


def test_recurrent_mappo_keeps_hidden_state_across_steps_and_resets_it_at_episode_starts():
    cfg, venv, algo = _mappo(["algo.rollout_length=30", "algo.agent.kind=gru", "algo.critic.kind=gru"])
    loop = make_loop(algo, venv, 0, "mappo")
    loop.iterate(0)
    hidden0 = loop.buffer.hidden0
    assert isinstance(hidden0, tuple) and hidden0[0].abs().sum() == 0  # a fresh start
    b = loop.buffer
    loop.runner.collect(algo, b, 30)  # collect only, so the nets are those that acted
    assert b.hidden0[0].abs().sum() > 0  # carried over from mid-episode
    assert b.starts[20].all() and b.starts.sum() == 3
    # replaying the rollout through the learner's masked unroll gives the values seen when acting
    log_prob, _, v = algo.evaluate(b.obs, b.state, b.avail, b.actions, b.starts, b.hidden0)
    assert torch.allclose(algo.denormalise(v), b.value, atol=1e-4)
    assert torch.allclose(log_prob, b.log_prob, atol=1e-4)
