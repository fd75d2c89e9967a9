"""The shared Q-learning core: TD targets, terminal and padded steps, double Q, departed agents."""

from __future__ import annotations

import copy

import pytest
import torch

from marlzoo.algos.idqn import IDQN
from marlzoo.algos.maddpg import MADDPG, MADDPGConfig
from marlzoo.algos.qmix import QMIX, QMIXConfig
from marlzoo.algos.vdn import VDN
from marlzoo.training.buffers import EpisodeBatch
from marlzoo.learning.qlearning import QLearningConfig, masked_max, td_targets
from tests.conftest import learn_step
from tests.test_buffer import make_spec


def test_td_target_stops_at_termination():
    reward = torch.tensor([[1.0, 2.0, 3.0]])
    terminated = torch.tensor([[False, False, True]])
    next_value = torch.tensor([[[10.0], [20.0], [30.0]]])
    y = td_targets(reward, terminated, next_value, gamma=0.5)
    assert y[0, :, 0].tolist() == [1.0 + 5.0, 2.0 + 10.0, 3.0]


def test_td_target_bootstraps_at_truncation():
    y = td_targets(torch.tensor([[1.0]]), torch.tensor([[False]]), torch.tensor([[[4.0]]]), gamma=0.9)
    assert y.item() == pytest.approx(1.0 + 0.9 * 4.0)


def test_masked_max_ignores_unavailable_and_handles_none_available():
    values = torch.tensor([[5.0, 9.0, 1.0], [3.0, 2.0, 1.0]])
    avail = torch.tensor([[True, False, True], [False, False, False]])
    assert masked_max(values, avail).tolist() == [5.0, 0.0]


def random_batch(spec, B=4, seed=0) -> EpisodeBatch:
    gen = torch.Generator().manual_seed(seed)
    batch = EpisodeBatch.zeros(spec, B)
    T = spec.episode_limit
    batch.obs.copy_(torch.randn(batch.obs.shape, generator=gen))
    batch.state.copy_(torch.randn(batch.state.shape, generator=gen))
    batch.avail.fill_(True)
    batch.alive.fill_(True)
    batch.actions.copy_(torch.randint(0, spec.n_actions, batch.actions.shape, generator=gen))
    batch.reward.copy_(torch.randn(batch.reward.shape, generator=gen))
    batch.filled[:, : T - 2] = True  # the last two steps are padding
    batch.terminated[:, T - 3] = True
    return batch


@pytest.mark.parametrize("algo_cls,config", [(IDQN, QLearningConfig()), (VDN, QLearningConfig()), (QMIX, QMIXConfig())])
def test_padded_steps_do_not_change_the_loss(algo_cls, config):
    torch.manual_seed(0)
    spec = make_spec(limit=6)
    algo = algo_cls(spec, config)
    twin = copy.deepcopy(algo)  # running reward statistics update on every call: compare equals
    batch = random_batch(spec)
    loss, _ = algo.loss(batch)
    garbage = copy.deepcopy(batch)
    garbage.reward[:, -2:] = 1e6
    garbage.actions[:, -2:] = 3
    garbage.obs[:, -2:] = 1e3
    garbage.state[:, -2:] = -1e3
    loss2, _ = twin.loss(garbage)
    assert torch.equal(loss, loss2)


def test_terminal_step_target_is_the_reward_alone():
    torch.manual_seed(0)
    spec = make_spec(limit=6)
    algo = VDN(spec, QLearningConfig(double_q=False, standardise_rewards=False))
    batch = random_batch(spec)
    batch.filled.zero_()
    batch.filled[:, 3] = True  # only the terminal step counts
    _, metrics = algo.loss(batch)
    assert metrics["loss/target_mean"] == pytest.approx(batch.reward[:, 3].mean().item(), abs=1e-5)
    batch.obs[:, 4] += 100.0  # what follows a terminal step must not matter
    _, metrics2 = algo.loss(batch)
    assert metrics2["loss/target_mean"] == pytest.approx(metrics["loss/target_mean"], abs=1e-6)


def test_double_q_uses_online_argmax_valued_by_target():
    torch.manual_seed(0)
    spec = make_spec(limit=3)
    algo = IDQN(spec, QLearningConfig(double_q=True, gamma=1.0))
    batch = random_batch(spec, B=2)
    batch.terminated.zero_()
    batch.filled.fill_(True)
    with torch.no_grad():
        online, _ = algo.agent.unroll(batch.obs)
        for p in algo.target_agent.parameters():
            p.add_(torch.randn_like(p))
        target, _ = algo.target_agent.unroll(batch.obs)
    _, next_q = algo.agent_values(batch)
    best = online[:, 1:].argmax(-1, keepdim=True)
    expected = target[:, 1:].gather(-1, best).squeeze(-1)
    assert torch.allclose(next_q, expected)
    assert not torch.allclose(next_q, target[:, 1:].max(-1).values), "that would be plain max, not double Q"


def test_departed_agents_do_not_reach_the_loss():
    torch.manual_seed(0)
    spec = make_spec(limit=6)
    for algo_cls, config in [(IDQN, QLearningConfig()), (QMIX, QMIXConfig())]:
        algo = algo_cls(spec, config)
        twin = copy.deepcopy(algo)
        batch = random_batch(spec)
        batch.alive[:, 2:, 1] = False  # agent b leaves after step 1
        loss, _ = algo.loss(batch)
        other = copy.deepcopy(batch)
        other.actions[:, 2:, 1] = (other.actions[:, 2:, 1] + 1) % spec.n_actions
        loss2, _ = twin.loss(other)
        assert torch.allclose(loss, loss2), algo_cls.__name__


def test_target_network_is_copied_every_interval():
    spec = make_spec(limit=4)
    algo = VDN(spec, QLearningConfig(target_update_interval=2, batch_size=2))
    from marlzoo.training.buffers import EpisodeBuffer

    buf = EpisodeBuffer(spec, 4)
    buf.insert(random_batch(spec, B=4))
    learn_step(algo, buf, 0)
    assert not all(torch.equal(a, b) for a, b in zip(algo.agent.parameters(), algo.target_agent.parameters()))
    learn_step(algo, buf, 0)
    assert all(torch.equal(a, b) for a, b in zip(algo.agent.parameters(), algo.target_agent.parameters()))


def test_reward_standardisation_scales_targets():
    torch.manual_seed(0)
    spec = make_spec(limit=4)
    algo = VDN(spec, QLearningConfig(standardise_rewards=True))
    batch = random_batch(spec)
    batch.reward.mul_(1000).add_(500)
    rewards = algo.rewards(batch)
    real = rewards[batch.filled]
    assert abs(real.mean().item()) < 0.1 and abs(real.std().item() - 1.0) < 0.2


def episodes_with_rewards(spec, rewards: list[list[float]]) -> EpisodeBatch:
    """Episodes of ``spec`` whose real steps earn ``rewards`` (one list per episode); every later
    step is padding that earns 100, which no statistics may count."""
    batch = random_batch(spec, B=len(rewards))
    batch.filled.zero_()
    batch.reward.fill_(100.0)
    for b, episode in enumerate(rewards):
        batch.reward[b, : len(episode)] = torch.tensor(episode)
        batch.filled[b, : len(episode)] = True
    return batch


@pytest.mark.parametrize("config_cls", [QLearningConfig, MADDPGConfig])
def test_inserted_reward_statistics_count_each_stored_reward_once(config_cls):
    """Hand-worked: episodes earning (1, 3), then (5, 7), enter the buffer; the statistics are then
    those of {1, 3, 5, 7} (mean 4, variance 5) however often a batch is replayed."""
    spec = make_spec(limit=4)
    algo = (VDN if config_cls is QLearningConfig else MADDPG)(spec, config_cls(standardise_rewards=True, reward_stats="inserted"))
    buffer = algo.make_buffer()
    buffer.insert(episodes_with_rewards(spec, [[1.0, 3.0]]))
    replayed = episodes_with_rewards(spec, [[4.0, 9.0]])
    for _ in range(3):  # replaying changes nothing: (r - 2) / 1
        assert algo.rewards(replayed)[0, :2].tolist() == pytest.approx([2.0, 7.0], abs=1e-3)
    buffer.insert(episodes_with_rewards(spec, [[5.0, 7.0]]))
    assert algo.rewards(replayed)[0, :2].tolist() == pytest.approx([0.0, 5.0 / 5.0 ** 0.5], abs=1e-3)


def test_sampled_reward_statistics_count_every_replayed_batch():
    """EPyMARL's rule: what enters the buffer is not counted; each sampled batch is, before it is
    standardised, so a batch replayed twice counts twice."""
    spec = make_spec(limit=4)
    algo = VDN(spec, QLearningConfig(standardise_rewards=True))
    assert algo.config.reward_stats == "sampled"
    algo.make_buffer().insert(episodes_with_rewards(spec, [[50.0, 70.0]]))
    first = episodes_with_rewards(spec, [[1.0, 3.0]])
    assert algo.rewards(first)[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-3)  # stats of {1, 3}
    assert algo.rewards(first)[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-3)  # of {1, 3, 1, 3}
    later = episodes_with_rewards(spec, [[5.0, 7.0], [5.0, 7.0]])  # now {1, 3, 1, 3, 5, 7, 5, 7}: mean 4, var 5
    assert algo.rewards(later)[0, :2].tolist() == pytest.approx([1.0 / 5.0 ** 0.5, 3.0 / 5.0 ** 0.5], abs=1e-3)


def test_qmix_ships_inserted_reward_statistics_and_the_core_keeps_epymarls():
    """configs/algos/qmix.yaml chooses "inserted" (results/qmix_ab.md); VDN and the rest keep "sampled"."""
    from marlzoo.config import load_config

    assert load_config("qmix", "simple_spread").algo.reward_stats == "inserted"
    assert load_config("vdn", "simple_spread").algo.reward_stats == "sampled"
    assert load_config("cw_qmix", "simple_spread").algo.reward_stats == "sampled"


@pytest.mark.parametrize("backend", ["pettingzoo", "vectorised"])
@pytest.mark.parametrize("time_limit", ["truncate", "terminate"])
def test_time_limit_rule_sets_the_td_target_of_the_last_step(time_limit, backend):
    """simple_spread ends every episode at its 25-step time limit. Under ``truncate`` the last
    step's target bootstraps from the state reached; under ``terminate`` it is the reward alone."""
    from marlzoo.config import load_config
    from marlzoo.training.runner import EpisodeRunner
    from marlzoo.training.trainer import build_algorithm, make_vector_env

    config = load_config("vdn", "simple_spread", sets=[f"env.time_limit={time_limit}", f"env.backend={backend}", "algo.double_q=false",
                                                        "algo.standardise_rewards=false"])
    torch.manual_seed(0)
    venv = make_vector_env(config, 2)
    algo = build_algorithm(config, venv.spec)
    batch, stats = EpisodeRunner(venv, seed=0).run(algo, explore=True, t_env=0)
    T = venv.spec.episode_limit
    assert stats.lengths.tolist() == [T, T], "returns and lengths do not depend on the rule"
    assert batch.terminated[:, T - 1].tolist() == [time_limit == "terminate"] * 2
    assert not batch.terminated[:, : T - 1].any()
    last = batch.filled.clone()
    batch.filled[:] = False
    batch.filled[:, T - 1] = last[:, T - 1]  # only the last step reaches the loss
    _, metrics = algo.loss(batch)
    reward_alone = batch.reward[:, T - 1].mean().item()
    if time_limit == "terminate":
        assert metrics["loss/target_mean"] == pytest.approx(reward_alone, abs=1e-5)
    else:
        _, next_q = algo.agent_values(batch)
        bootstrap = algo.config.gamma * next_q[:, T - 1].sum(-1).mean().item()
        assert abs(bootstrap) > 1e-3
        assert metrics["loss/target_mean"] == pytest.approx(reward_alone + bootstrap, abs=1e-4)
