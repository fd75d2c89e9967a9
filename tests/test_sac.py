"""MASAC and ISAC: the soft target against a hand computation, the temperature's pull toward the
target entropy, and what the critics see (with MADDPG and IDDPG, the other pair that differs so)."""

import math

import pytest
import torch
import torch.nn.functional as F

from marlzoo.config import load_config
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env

torch.set_num_threads(1)
SMALL = ["algo.batch_size=4", "algo.agent.hidden=32", "algo.critic.hidden=32"]


def setup(algo: str, *sets: str, continuous: bool = False, episodes: int = 4):
    """The algorithm on simple_spread, and a loop whose buffer holds ``episodes`` explored episodes."""
    cfg = load_config(algo, "simple_spread", sets=["wandb.mode=disabled", f"n_envs={episodes}",
                                                   f"env.kwargs.continuous_actions={str(continuous).lower()}", *sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    built = build_algorithm(cfg, venv.spec)
    loop = make_loop(built, venv, 0, algo)
    loop.iterate(0)
    return built, loop


def body(critic, inputs: torch.Tensor) -> torch.Tensor:
    """The critic's MLP on inputs assembled by hand: [what it sees, actions, one-hot agent id]."""
    return critic.bodies[0](inputs, None)[0]


def hand_soft_targets(algo, batch, out, seed: int) -> torch.Tensor:
    """``r + gamma * (1 - terminated) * E[min_j Q_j' - alpha * log pi]`` per agent, built by hand, with
    the next actions drawn from the same random numbers as the algorithm's (seed ``seed``)."""
    spec, head = algo.spec, algo.head
    N, A = spec.n_agents, spec.n_actions
    B, T = batch.reward.shape
    ids = torch.eye(N).expand(B, T, N, N)
    torch.manual_seed(seed)
    if spec.action_kind == "discrete":
        logits = out[:, 1:].masked_fill(~batch.avail[:, 1:], -1e9)
        u = torch.rand(logits.shape)
        sample = F.one_hot((logits - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(-1), A).float()
        probs, log_probs = logits.softmax(-1), logits.log_softmax(-1)
        if algo.view.source == "state":  # Q_i(s', a'_-i, .): agent i's own slot of the joint action zero
            others = sample.unsqueeze(-3).expand(B, T, N, N, A) * (1 - torch.eye(N)).view(N, N, 1)
            state = batch.state[:, 1:].unsqueeze(-2).expand(B, T, N, spec.state_dim)
            inputs = torch.cat([state, others.reshape(B, T, N, N * A), ids], -1)
        else:  # Q_i(o_i', .)
            inputs = torch.cat([batch.obs[:, 1:], ids], -1)
        q = torch.minimum(*(body(c, inputs) for c in algo.target_critics))  # [B, T, N, A]
        value = (probs * (q - algo.alpha * log_probs)).sum(-1)
    else:
        mean, raw = out[:, 1:].chunk(2, -1)
        std = (raw + algo.config.log_std_init).clamp(-20, 2).exp()
        u = mean + std * torch.randn(mean.shape)
        half = (head.bounds.high - head.bounds.low) / 2
        log_prob = (torch.distributions.Normal(mean, std).log_prob(u) - torch.log(half * (1 - torch.tanh(u) ** 2))).sum(-1)
        a = torch.tanh(u)  # what the critic sees: the action rescaled to [-1, 1]
        if algo.view.source == "state":
            state = batch.state[:, 1:].unsqueeze(-2).expand(B, T, N, spec.state_dim)
            inputs = torch.cat([state, a.reshape(B, T, 1, N * A).expand(B, T, N, N * A), ids], -1)
        else:
            inputs = torch.cat([batch.obs[:, 1:], a, ids], -1)
        q = torch.minimum(*(body(c, inputs).squeeze(-1) for c in algo.target_critics))
        value = q - algo.alpha * log_prob
    value = value * batch.alive[:, 1:]
    not_done = 1.0 - batch.terminated.float().unsqueeze(-1)
    return batch.reward.unsqueeze(-1) + algo.config.gamma * not_done * value


@pytest.mark.parametrize("name, continuous", [("masac", False), ("masac", True), ("isac", False), ("isac", True)])
def test_the_soft_target_matches_a_hand_computation(name, continuous):
    algo, loop = setup(name, *SMALL, "algo.alpha_init=0.3", "algo.gamma=0.9", continuous=continuous)
    with torch.no_grad():  # targets that differ from the online critics, so a mix-up would show
        for p in algo.target_critics.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = loop.buffer.sample(4)
    batch.terminated[:2, -1] = True  # no bootstrap past a termination
    batch.reward.normal_()
    out, _ = algo.actor.unroll(batch.obs)
    torch.manual_seed(11)
    targets = algo.soft_targets(batch, batch.reward, out.detach())
    expected = hand_soft_targets(algo, batch, out.detach(), seed=11)
    assert targets.shape == (4, 25, 3)
    torch.testing.assert_close(targets, expected, rtol=1e-5, atol=1e-4)
    assert torch.equal(targets[:2, -1], batch.reward[:2, -1, None].expand(2, 3))  # r alone where terminated
    if not continuous:  # the expectation is exact: the other agents' samples are the only randomness
        torch.manual_seed(12)
        again = algo.soft_targets(batch, batch.reward, out.detach())
        assert torch.equal(again, targets) == (name == "isac")


@pytest.mark.parametrize("continuous", [False, True])
def test_the_temperature_rises_below_the_target_entropy_and_falls_above_it(continuous):
    key = "target_entropy_continuous" if continuous else "target_entropy_discrete"
    unreachable = {True: (5.0, -5.0), False: (1.0, 0.0)}[continuous]  # above, below any entropy the policy has
    moves = []
    for target in unreachable:
        algo, loop = setup("masac", *SMALL, f"algo.{key}={target}", continuous=continuous)
        before = algo.alpha
        metrics = algo.learn(loop.buffer, 0, 1)[-1]
        moves.append(algo.alpha - before)
        assert math.isfinite(metrics["loss/entropy"])
    assert moves[0] > 0 > moves[1], moves


@pytest.mark.parametrize("continuous", [False, True])
def test_a_short_optimisation_moves_the_entropy_toward_its_target(continuous):
    """From the same start, a target below the policy's entropy makes alpha fall, one above makes it
    rise, and the entropy follows: down from a near-uniform categorical toward a low target (and
    below where a high target holds it), up from a narrow Gaussian (log-std -2) toward a high one."""
    key = "target_entropy_continuous" if continuous else "target_entropy_discrete"
    low, high = (-3.0, 0.5) if continuous else (0.1, 1.0)
    start_sets = ["algo.log_std_init=-2"] if continuous else []
    results = {}
    for target in (low, high):
        algo, loop = setup("masac", *SMALL, *start_sets, f"algo.{key}={target}", "algo.alpha_lr=0.05", "algo.lr=0.003",
                           continuous=continuous)
        batch = loop.buffer.sample(4)
        entropies = [algo.update(batch, 0)["loss/entropy"] for _ in range(40)]
        results[target] = (entropies[0], entropies[-1], algo.alpha)
    (start, end_low, alpha_low), (_, end_high, alpha_high) = results[low], results[high]
    assert alpha_low < 1.0 < alpha_high, results  # alpha_init 1
    if continuous:  # (while alpha > 0 the entropy bonus widens a narrow Gaussian whatever the target)
        assert end_high > start + 3.0, results  # toward the high target
    else:
        assert end_low < start - 0.3, results  # toward the low target
        assert end_high > end_low + 0.3, results


@pytest.mark.parametrize("central, independent", [("maddpg", "iddpg"), ("masac", "isac")])
@pytest.mark.parametrize("continuous", [False, True])
def test_independent_critics_see_only_their_agents_own_observation_and_action(central, independent, continuous):
    """Change agent 1's observation and action: agent 0's centralised critic value moves, its
    independent one does not; agent 1's moves in both."""
    for name, moves in ((central, True), (independent, False)):
        algo, loop = setup(name, *SMALL, continuous=continuous)
        batch = loop.buffer.sample(1)
        obs, actions = batch.obs[:, :-1].clone(), algo.head.encode(batch.actions)
        changed_obs, changed_actions = obs.clone(), actions.clone()
        changed_obs[:, :, 1] += 1.0
        changed_actions[:, :, 1] = actions[:, :, 1].roll(1, dims=-1)  # another action of agent 1
        critic = algo.critic if hasattr(algo, "critic") else algo.critics[0]
        with torch.no_grad():
            q = algo.view.q(critic, algo.view.inputs(obs, obs.flatten(-2)), actions)
            q2 = algo.view.q(critic, algo.view.inputs(changed_obs, changed_obs.flatten(-2)), changed_actions)
        assert not torch.allclose(q[..., 1], q2[..., 1]), name
        for other in (0, 2):
            assert (not torch.allclose(q[..., other], q2[..., other])) == moves, (name, other)


@pytest.mark.parametrize("name", ["masac", "isac"])
@pytest.mark.parametrize("continuous", [False, True])
def test_soft_actor_critics_learn_act_inside_the_spaces_and_restore_their_state(name, continuous):
    algo, loop = setup(name, *SMALL, continuous=continuous)
    before = [p.detach().clone() for p in algo.actor.parameters()]
    metrics = algo.learn(loop.buffer, 0, 2)[-1]
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert any(not torch.equal(p, q) for p, q in zip(algo.actor.parameters(), before))
    obs, avail = torch.randn(6, 3, algo.spec.obs_dim), torch.ones(6, 3, algo.spec.n_actions, dtype=torch.bool)
    if not continuous:
        avail[:, :, 2:] = False
    actions, _ = algo.act(obs, avail, None, explore=True, t_env=0)
    if continuous:
        assert actions.min() >= 0.0 and actions.max() <= 1.0  # simple_spread's Box(0, 1)
    else:
        assert (actions < 2).all()
    twin, _ = setup(name, *SMALL, "seed=5", continuous=continuous)
    twin.load_state_dict(algo.state_dict())
    assert twin.alpha == algo.alpha
    greedy = [a.act(obs, avail, None, explore=False, t_env=0)[0] for a in (algo, twin)]
    assert torch.equal(*greedy)
