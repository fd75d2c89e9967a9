"""What makes each mixer what it is: QMIX is monotonic in every agent's Q; VDN is an exact sum."""

from __future__ import annotations

import torch

from marlzoo.algos.qmix import QMixer
from marlzoo.algos.vdn import SumMixer


def test_qmix_is_monotonic_in_every_agent_q():
    torch.manual_seed(0)
    for _ in range(5):
        mixer = QMixer(n_agents=4, state_dim=10, embed=8, hypernet_hidden=16)
        for p in mixer.parameters():  # large random weights, many of them negative
            p.data.normal_(0.0, 2.0)
        qs = (torch.randn(64, 7, 4) * 10).requires_grad_(True)
        state = torch.randn(64, 7, 10)
        q_tot = mixer(qs, state)
        assert q_tot.shape == (64, 7, 1)
        (grad,) = torch.autograd.grad(q_tot.sum(), qs)
        assert (grad >= 0).all()
        assert (grad > 0).any()


def test_qmix_depends_on_state_and_is_not_a_plain_sum():
    torch.manual_seed(1)
    mixer = QMixer(n_agents=3, state_dim=5)
    qs = torch.randn(20, 1, 3)
    a = mixer(qs, torch.randn(20, 1, 5))
    b = mixer(qs, torch.randn(20, 1, 5))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, qs.sum(-1, keepdim=True))


def test_qmix_raising_one_agent_q_never_lowers_q_tot():
    torch.manual_seed(2)
    mixer = QMixer(n_agents=3, state_dim=5)
    qs = torch.randn(100, 1, 3)
    state = torch.randn(100, 1, 5)
    raised = qs.clone()
    raised[..., 1] += torch.rand(100, 1) * 5
    assert (mixer(raised, state) >= mixer(qs, state) - 1e-5).all()


def test_vdn_is_the_exact_sum():
    qs = torch.randn(8, 5, 3, dtype=torch.float64)
    out = SumMixer()(qs, torch.zeros(8, 5, 2))
    assert out.shape == (8, 5, 1)
    assert torch.equal(out[..., 0], qs.sum(-1))
