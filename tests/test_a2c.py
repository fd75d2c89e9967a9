"""IA2C and MAA2C: the n-step advantage by hand, the critic fitting those returns, the direction of
the policy step, and what each critic sees."""

import pytest
import torch

from marlzoo.config import load_config
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)


def setup(algo, *sets, env="simple_spread", n_envs=1):
    torch.manual_seed(0)  # the networks' initial weights: not whatever the tests before left
    cfg = load_config(algo, env, sets=["wandb.mode=disabled", f"n_envs={n_envs}", *sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    return venv, build_algorithm(cfg, venv.spec)


def hand_buffer(algo, venv):
    """One copy, four steps, every agent alive: rewards 1, 2, 3, 4; V = 0.5, 1, 1.5, 2 when acting;
    step 1 ends its episode (terminated); after the last step V = 3. Observations and states are
    random, a different one at every step."""
    buffer = algo.make_buffer()
    assert buffer.length == 4
    buffer.allocate(1)
    g = torch.Generator().manual_seed(0)
    buffer.obs.copy_(torch.randn(buffer.obs.shape, generator=g))
    buffer.state.copy_(torch.randn(buffer.state.shape, generator=g))
    buffer.avail.fill_(True)
    buffer.alive.fill_(True)
    buffer.next_alive.fill_(True)
    buffer.actions.copy_(torch.tensor([1, 2, 3, 4]).view(4, 1, 1).expand_as(buffer.actions))
    buffer.reward.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
    buffer.value.copy_(torch.tensor([0.5, 1.0, 1.5, 2.0]).view(4, 1, 1).expand_as(buffer.value))
    buffer.terminated[1] = True
    buffer.last_value.fill_(3.0)
    return buffer


@pytest.mark.parametrize("algo", ["maa2c", "ia2c"])
def test_a2c_advantage_is_the_n_step_return_minus_the_critics_value(algo):
    # With the algorithm's own defaults (lambda 1: n-step returns; raw advantages), gamma = 0.5:
    #   t=3: R = 4 + 0.5 * 3 = 5.5          A = 5.5 - 2 = 3.5
    #   t=2: R = 3 + 0.5 * 5.5 = 5.75       A = 5.75 - 1.5 = 4.25
    #   t=1: R = 2 (the episode ends)        A = 2 - 1 = 1
    #   t=0: R = 1 + 0.5 * 2 = 2            A = 2 - 0.5 = 1.5
    venv, agent = setup(algo, "algo.gamma=0.5", "algo.rollout_length=4", "algo.gae_lambda=1.0",
                        "algo.normalise_advantages=false")
    assert type(agent).Config().gae_lambda == 1.0 and not type(agent).Config().normalise_advantages
    advantages, returns = agent.advantages_and_returns(hand_buffer(agent, venv))
    for i in range(venv.spec.n_agents):
        assert advantages[:, 0, i].tolist() == pytest.approx([1.5, 1.0, 4.25, 3.5])
        assert returns[:, 0, i].tolist() == pytest.approx([2.0, 2.0, 5.75, 5.5])


@pytest.mark.parametrize("algo", ["maa2c", "ia2c"])
def test_a2c_step_raises_the_advantage_weighted_log_probs_and_its_critic_fits_the_n_step_returns(algo):
    venv, agent = setup(algo, "algo.gamma=0.5", "algo.rollout_length=4", "algo.gae_lambda=1.0",
                        "algo.normalise_advantages=false", "algo.entropy_coef=0.0", "algo.critic_lr=0.03")
    buffer = hand_buffer(agent, venv)
    advantages, _ = buffer.advantages(0.5, 1.0)
    args = (buffer.obs, buffer.avail, buffer.actions, buffer.starts, None)
    before = agent.policy_outputs(*args)[0].detach()
    agent.learn(buffer, 4)
    after = agent.policy_outputs(*args)[0].detach()
    assert ((after - before) * advantages).sum() > 0  # every advantage here is positive: all rise
    for _ in range(100):
        agent.learn(buffer, 4)
    v = agent.denormalise(agent.values(buffer.obs, buffer.state, buffer.starts, None)).detach()
    expected = torch.tensor([2.0, 2.0, 5.75, 5.5]).view(4, 1).expand(4, venv.spec.n_agents)
    assert torch.allclose(v[:, 0], expected, atol=0.05), v[:, 0]


@pytest.mark.parametrize("algo,sees_others", [("maa2c", True), ("ia2c", False)])
def test_maa2c_critic_sees_the_state_and_ia2c_critic_only_the_agents_own_observation(algo, sees_others):
    venv, agent = setup(algo, "env.state=concat_obs")
    venv.reset([0])
    obs = torch.from_numpy(venv.obs).clone()
    before = agent.value(obs, obs.reshape(1, -1), None)
    obs2 = obs.clone()
    obs2[0, 1] += 1.0  # change what agent 1 sees (and so the concatenated state)
    after = agent.value(obs2, obs2.reshape(1, -1), None)
    assert bool(before[0, 0] != after[0, 0]) == sees_others
    assert before[0, 1] != after[0, 1]
