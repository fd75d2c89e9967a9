"""Agent networks: unrolling a sequence equals stepping it; sharing and per-agent bodies behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marlzoo.learning.nets import AgentNetConfig, AgentNetwork, NumpyForward


@pytest.mark.parametrize("share", [True, False])
def test_gru_unroll_equals_step_by_step(share):
    torch.manual_seed(0)
    net = AgentNetwork(6, 4, 3, AgentNetConfig(kind="gru", hidden=16, share_params=share))
    x = torch.randn(5, 7, 3, 6)
    unrolled, last = net.unroll(x)
    h = net.init_hidden(5)
    steps = []
    for t in range(7):
        out, h = net.step(x[:, t], h)
        steps.append(out)
    assert torch.allclose(unrolled, torch.stack(steps, dim=1), atol=1e-6)
    assert torch.allclose(last, h, atol=1e-6)


def test_gru_remembers_and_mlp_does_not():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 2, 5)
    changed = x.clone()
    changed[:, 0] += 1.0  # change only the first step
    for kind, remembers in (("gru", True), ("mlp", False)):
        net = AgentNetwork(5, 3, 2, AgentNetConfig(kind=kind, hidden=8))
        a, _ = net.unroll(x)
        b, _ = net.unroll(changed)
        assert torch.allclose(a[:, 1:], b[:, 1:]) != remembers, kind


def test_shared_network_tells_agents_apart_by_id():
    torch.manual_seed(0)
    net = AgentNetwork(4, 3, 2, AgentNetConfig(kind="mlp", hidden=8))
    same_obs = torch.ones(1, 2, 4)
    out, _ = net.step(same_obs, None)
    assert not torch.allclose(out[0, 0], out[0, 1])
    blind = AgentNetwork(4, 3, 2, AgentNetConfig(kind="mlp", hidden=8, agent_id=False))
    out, _ = blind.step(same_obs, None)
    assert torch.allclose(out[0, 0], out[0, 1])


def test_per_agent_bodies_are_separate_parameters():
    net = AgentNetwork(4, 3, 3, AgentNetConfig(kind="mlp", hidden=8, share_params=False))
    shared = AgentNetwork(4, 3, 3, AgentNetConfig(kind="mlp", hidden=8))
    assert len(net.bodies) == 3 and len(shared.bodies) == 1
    x = torch.randn(2, 5, 3, 4)
    out, _ = net.unroll(x)
    assert out.shape == (2, 5, 3, 3)
    loss = out[:, :, 0].sum()  # only agent 0's output
    loss.backward()
    assert net.bodies[0].fc_in.weight.grad.abs().sum() > 0
    for other in net.bodies[1:]:
        assert other.fc_in.weight.grad is None or not other.fc_in.weight.grad.any()


@pytest.mark.parametrize("share", [True, False])
def test_numpy_forward_matches_torch_and_follows_in_place_updates(share):
    torch.manual_seed(0)
    net = AgentNetwork(7, 4, 3, AgentNetConfig(share_params=share))
    fast = NumpyForward(net)
    x = torch.randn(5, 3, 7)
    with torch.no_grad():
        assert np.allclose(fast(x.numpy()), net.step(x, None)[0].numpy(), atol=1e-5)
        for p in net.parameters():  # what an optimiser step does: change the parameters in place
            p.mul_(1.5).add_(0.01)
        assert np.allclose(fast(x.numpy()), net.step(x, None)[0].numpy(), atol=1e-4)


def test_numpy_forward_is_only_for_feed_forward_networks():
    assert not NumpyForward.supports(AgentNetwork(7, 4, 3, AgentNetConfig(kind="gru")))
    with pytest.raises(ValueError):
        NumpyForward(AgentNetwork(7, 4, 3, AgentNetConfig(kind="gru")))
