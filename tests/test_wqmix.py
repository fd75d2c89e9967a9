"""Weighted QMIX: the two weightings at known inputs, and Q*'s place in the loss."""

from __future__ import annotations

import copy

import pytest
import torch

from marlzoo.algos.wqmix import CWQMIX, OWQMIX, WQMIXConfig, central_weights, optimistic_weights
from marlzoo.learning.qlearning import chosen_q
from tests.test_buffer import make_spec
from tests.test_qlearning import random_batch


def test_optimistic_weights_are_one_where_q_tot_underestimates_the_target():
    q_tot = torch.tensor([[1.0], [2.0], [3.0], [-4.0]])
    targets = torch.tensor([[2.0], [2.0], [0.0], [-3.5]])
    w = optimistic_weights(q_tot, targets, 0.1)
    assert w.shape == q_tot.shape
    assert w.flatten().tolist() == pytest.approx([1.0, 0.1, 0.1, 1.0])  # a tie is not an underestimate


def test_central_weights_are_one_at_the_greedy_action_and_where_the_target_beats_q_star_there():
    targets = torch.tensor([[5.0], [5.0], [1.0], [1.0], [3.0]])
    q_star_greedy = torch.tensor([[4.0], [6.0], [6.0], [0.5], [3.0]])
    greedy = torch.tensor([[False], [False], [True], [False], [False]])
    w = central_weights(targets, q_star_greedy, greedy, 0.25)
    assert w.flatten().tolist() == pytest.approx([1.0, 0.25, 1.0, 1.0, 0.25])


def test_down_weight_must_be_a_weight():
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="down_weight"):
            WQMIXConfig(down_weight=bad)


def test_cw_weights_flag_the_greedy_joint_action_and_ignore_departed_agents():
    torch.manual_seed(0)
    algo = CWQMIX(make_spec(limit=6), WQMIXConfig(down_weight=0.3))
    batch = random_batch(algo.spec)
    q_all, _ = algo.unroll_agents(batch)
    greedy = q_all[:, :-1].argmax(-1)
    batch.actions[0] = greedy[0]  # episode 0 takes the greedy joint action at every step
    batch.actions[1, :, 0] = greedy[1, :, 0]  # episode 1: agent a greedy, agent b departed from step 0
    batch.actions[1, :, 1] = (greedy[1, :, 1] + 1) % 4
    batch.alive[1, :, 1] = False
    batch.actions[2] = (greedy[2] + 1) % 4  # episode 2: never greedy
    with torch.no_grad():
        target_star, _ = algo.target_mixer.central_agent.unroll(batch.obs)
        now = slice(None, -1)
        q_star_greedy = algo.target_mixer.central_mixer(chosen_q(target_star[:, now], greedy, batch.alive[:, now]),
                                                        batch.state[:, now])
    below = q_star_greedy - 1.0  # targets below Q* of the greedy action: only greediness gives weight 1
    w = algo.weights(batch, q_all.detach(), target_star, torch.zeros_like(below), below)
    assert (w[0] == 1.0).all() and (w[1] == 1.0).all()
    assert torch.allclose(w[2], torch.full_like(w[2], 0.3))
    above = q_star_greedy + 1.0
    assert (algo.weights(batch, q_all.detach(), target_star, torch.zeros_like(above), above) == 1.0).all()


@pytest.mark.parametrize("cls", [CWQMIX, OWQMIX])
def test_q_star_trains_on_its_own_td_loss_and_targets_come_from_target_q_star(cls):
    torch.manual_seed(1)
    algo = cls(make_spec(limit=6), WQMIXConfig())
    batch = random_batch(algo.spec)
    loss, metrics = algo.loss(batch)
    assert {"loss/td", "loss/central_td", "loss/weight_mean"} <= set(metrics)
    assert 0.1 - 1e-6 <= metrics["loss/weight_mean"] <= 1.0
    loss.backward()
    parts = {"agent": algo.agent, "qmix": algo.mixer.qmix, "central_agent": algo.mixer.central_agent,
             "central_mixer": algo.mixer.central_mixer}
    for name, module in parts.items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), name
    # The targets read target Q*: perturbing its mixer changes them; perturbing QMIX's target mixer does not.
    for name, moves in [("central_mixer", True), ("qmix", False)]:
        same, perturbed = copy.deepcopy(algo), copy.deepcopy(algo)
        with torch.no_grad():
            for p in getattr(perturbed.target_mixer, name).parameters():
                p.add_(1.0)
        changed = same.loss(batch)[1]["loss/target_mean"] != perturbed.loss(batch)[1]["loss/target_mean"]
        assert changed is moves, name
