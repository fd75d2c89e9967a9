"""The PPO update's cheaper pieces compute exactly what the plain ones do (bit for bit)."""

import torch
from torch import nn

from marlzoo.config import load_config
from marlzoo.learning.actor_critic import clip_grad_norms, shuffled_parts, stacked_by_layout
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env


def _grads(seed: int, scale: float) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.zeros(shape)) for shape in ((7, 5), (5,), (3, 7), (1,))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * scale
    return params


def test_clip_grad_norms_match_torch_clip_grad_norm_per_group_bit_for_bit():
    for scale in (0.01, 50.0):  # under and over the max norm
        ours_a, ours_c = _grads(0, scale), _grads(1, scale)
        ref_a, ref_c = _grads(0, scale), _grads(1, scale)
        ours_c[1].grad = ref_c[1].grad = None  # a parameter the loss did not reach
        norms = clip_grad_norms((ours_a, ours_c), 10.0)
        ref = [nn.utils.clip_grad_norm_(ref_a, 10.0, foreach=True), nn.utils.clip_grad_norm_(ref_c, 10.0, foreach=True)]
        assert [n.item() for n in norms] == [n.item() for n in ref]
        for p, q in zip(ours_a + ours_c, ref_a + ref_c):
            assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)
        assert (norms[0] > 10.0) == (scale > 1.0)
    empty = [nn.Parameter(torch.zeros(3))]
    assert clip_grad_norms((empty,), 1.0)[0].item() == 0.0


def test_shuffled_parts_are_the_rows_each_chunk_of_the_permutation_indexes():
    n = 23  # not a multiple of the parts
    data = {"a": torch.randn(1, n, 3), "b": torch.randn(1, n, 3), "obs": torch.randn(1, n, 3, 4),
            "avail": torch.rand(1, n, 3, 5) > 0.5, "actions": torch.randint(0, 5, (1, n, 3)), "s": torch.randn(1, n)}
    perm = torch.randperm(n)
    parts = list(shuffled_parts(stacked_by_layout(data), perm, 4))
    chunks = perm.chunk(4)
    assert len(parts) == len(chunks)
    for mb, idx in zip(parts, chunks):
        assert mb.keys() == data.keys()
        for k, v in data.items():
            assert mb[k].dtype == v.dtype and torch.equal(mb[k], v[:, idx])


def test_mappo_minibatches_are_those_of_indexing_every_tensor_with_each_part():
    cfg = load_config("mappo", "simple_spread", sets=["n_envs=4", "algo.rollout_length=5", "algo.epochs=2",
                                                      "algo.minibatches=3", "wandb.mode=disabled"])
    venv = make_vector_env(cfg, cfg.n_envs)
    algo = build_algorithm(cfg, venv.spec)
    loop = make_loop(algo, venv, 0, "mappo", "inline")
    loop.runner.collect(algo, loop.buffer, 0)
    data = algo.rollout_data(loop.buffer)
    torch.manual_seed(3)
    got = [mb for mb, hidden0 in algo.minibatches(loop.buffer, data)]
    torch.manual_seed(3)
    flat = {k: v.reshape(1, 20, *v.shape[2:]) for k, v in data.items()}
    want = [{k: v[:, idx] for k, v in flat.items()} for _ in range(2) for idx in torch.randperm(20).chunk(3)]
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        assert all(torch.equal(g[k], w[k]) for k in w)
