"""QPLEX: its duplex dueling mix keeps IGM (the per-agent argmaxes are Q_tot's argmax) whatever its weights."""

from __future__ import annotations

import io

import torch

from marlzoo.algos.qplex import QPLEX, QPLEXConfig
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.qtable import joint_actions
from tests.test_buffer import make_spec
from tests.test_qlearning import random_batch


def spec3() -> EnvSpec:
    """3 agents with 4 actions each: 64 joint actions."""
    return EnvSpec(env_id="t", agents=("a", "b", "c"), obs_shape=(5,), state_dim=7, action_kind="discrete",
                   n_actions=4, episode_limit=5, reward_aggregation="sum", env_package="x", env_version="0",
                   state_source="concatenated observations", obs_sizes=(5, 5, 5), action_sizes=(4, 4, 4))


def all_joint_q_tot(algo: QPLEX, q: torch.Tensor, state: torch.Tensor, avail: torch.Tensor | None = None) -> torch.Tensor:
    """Q_tot at every joint action ``[A ** n]`` for agent values ``q [n, A]`` at one state."""
    joint = joint_actions(*q.shape)
    every = q.expand(1, len(joint), *q.shape)
    with torch.no_grad():
        return algo.q_tot(algo.mixer, every, joint.unsqueeze(0), state.expand(1, len(joint), -1),
                          None if avail is None else avail.expand(1, len(joint), *avail.shape))[0, :, 0]


def test_igm_argmax_of_q_tot_is_the_joint_of_the_agents_argmaxes():
    torch.manual_seed(0)
    spec = spec3()
    joint = joint_actions(3, 4)
    for trial in range(20):
        algo = QPLEX(spec, QPLEXConfig())
        if trial % 2:  # large random mixer weights too, not only the initialisation's
            for p in algo.mixer.parameters():
                p.data.normal_(0.0, 2.0)
        q, state = torch.randn(3, 4) * 5, torch.randn(7) * 3
        q_tot = all_joint_q_tot(algo, q, state)
        assert tuple(joint[q_tot.argmax()].tolist()) == tuple(q.argmax(-1).tolist())
        # and strictly: every other joint action is worse
        others = torch.ones(len(joint), dtype=torch.bool)
        others[q_tot.argmax()] = False
        assert (q_tot[others] < q_tot.max()).all()


def test_igm_holds_among_available_actions():
    torch.manual_seed(1)
    algo = QPLEX(spec3(), QPLEXConfig())
    joint = joint_actions(3, 4)
    for _ in range(10):
        q, state = torch.randn(3, 4) * 5, torch.randn(7)
        avail = torch.rand(3, 4) < 0.6
        avail[torch.arange(3), torch.randint(0, 4, (3,))] = True
        q_tot = all_joint_q_tot(algo, q, state, avail)
        allowed = avail[torch.arange(3), joint].all(-1)
        best = joint[q_tot.masked_fill(~allowed, float("-inf")).argmax()]
        assert tuple(best.tolist()) == tuple(q.masked_fill(~avail, float("-inf")).argmax(-1).tolist())


def test_q_tot_is_the_sum_of_values_at_the_greedy_joint_action_and_not_monotonic():
    torch.manual_seed(2)
    algo = QPLEX(spec3(), QPLEXConfig())
    mixer = algo.mixer
    q, state = torch.randn(3, 4), torch.randn(7)
    q_tot = all_joint_q_tot(algo, q, state)
    with torch.no_grad():
        w, b = mixer.hyper_w(state).abs() + 1e-10, mixer.hyper_b(state)
    v_tot = (w * q.max(-1).values + b).sum()
    assert torch.isclose(q_tot.max(), v_tot, atol=1e-5)
    # Unlike VDN, the joint action reaches lambda: changing one agent's action moves another agent's weight.
    with torch.no_grad():
        u1, u2 = torch.tensor([0, 1, 2]), torch.tensor([3, 1, 2])
        one_hot = lambda u: torch.nn.functional.one_hot(u, 4).float().flatten()
        assert not torch.allclose(mixer.lambdas(state, one_hot(u1))[1:], mixer.lambdas(state, one_hot(u2))[1:])


def test_gradients_reach_the_agents_and_every_mixer_part():
    torch.manual_seed(3)
    algo = QPLEX(make_spec(limit=6), QPLEXConfig())
    loss, metrics = algo.loss(random_batch(algo.spec))
    loss.backward()
    for name, p in [*algo.agent.named_parameters(), *algo.mixer.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert set(metrics) >= {"loss/td", "loss/q_taken_mean", "loss/target_mean"}


def test_value_table_is_q_tot_over_every_joint_action_and_survives_a_checkpoint():
    torch.manual_seed(4)
    spec = make_spec()
    algo = QPLEX(spec, QPLEXConfig())
    obs, state, avail = torch.randn(2, 3), torch.randn(6), torch.ones(2, 4, dtype=torch.bool)
    table = algo.value_table(obs, state, avail)
    assert torch.allclose(table.joint_q.flatten(), all_joint_q_tot(algo, table.agent_q, state), atol=1e-6)
    assert tuple(divmod(int(table.joint_q.argmax()), 4)) == table.greedy(avail)
    blob = io.BytesIO()
    torch.save(algo.state_dict(), blob)
    blob.seek(0)
    fresh = QPLEX(spec, QPLEXConfig())
    fresh.load_state_dict(torch.load(blob, weights_only=True))
    assert torch.equal(fresh.value_table(obs, state, avail).joint_q, table.joint_q)
    assert torch.equal(fresh.target_mixer.key.weight, algo.target_mixer.key.weight)
