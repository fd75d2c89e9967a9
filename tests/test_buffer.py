"""The episode replay buffer: preallocated, circular, sampled uniformly, trimmed to the longest episode."""

from __future__ import annotations

import torch

from marlzoo.training.buffers import EpisodeBatch, EpisodeBuffer
from marlzoo.envs.spec import EnvSpec


def make_spec(limit: int = 5) -> EnvSpec:
    return EnvSpec(env_id="t", agents=("a", "b"), obs_shape=(3,), state_dim=6, action_kind="discrete",
                   n_actions=4, episode_limit=limit, reward_aggregation="sum", env_package="x", env_version="0",
                   state_source="concatenated observations", obs_sizes=(3, 3), action_sizes=(4, 4))


def episodes(spec: EnvSpec, ids: list[int], length: int) -> EpisodeBatch:
    """Episodes whose every reward equals their id, ``length`` steps long."""
    batch = EpisodeBatch.zeros(spec, len(ids))
    for row, ep in enumerate(ids):
        batch.reward[row, :length] = float(ep)
        batch.filled[row, :length] = True
        batch.obs[row] = float(ep)
    return batch


def test_shapes_are_preallocated():
    spec = make_spec()
    buf = EpisodeBuffer(spec, capacity=7)
    assert buf.storage.obs.shape == (7, 6, 2, 3)
    assert buf.storage.actions.shape == (7, 5, 2) and buf.storage.actions.dtype == torch.long
    assert buf.storage.avail.dtype == torch.bool and buf.size == 0


def test_circular_overwrite_keeps_the_newest():
    spec = make_spec()
    buf = EpisodeBuffer(spec, capacity=4)
    buf.insert(episodes(spec, [1, 2, 3], 5))
    buf.insert(episodes(spec, [4, 5, 6], 5))
    assert buf.size == 4
    stored = sorted(buf.storage.reward[:, 0].tolist())
    assert stored == [3.0, 4.0, 5.0, 6.0]


def test_sample_is_distinct_episodes_and_trimmed_to_longest():
    spec = make_spec(limit=5)
    buf = EpisodeBuffer(spec, capacity=10)
    buf.insert(episodes(spec, [1, 2], 2))
    buf.insert(episodes(spec, [3], 3))
    sample = buf.sample(3, torch.Generator().manual_seed(0))
    assert sample.reward.shape == (3, 3) and sample.obs.shape == (3, 4, 2, 3)
    assert sorted(sample.reward[:, 0].tolist()) == [1.0, 2.0, 3.0]
    assert sample.filled.sum().item() == 2 + 2 + 3


def test_sampling_is_uniform():
    spec = make_spec()
    buf = EpisodeBuffer(spec, capacity=8)
    buf.insert(episodes(spec, list(range(8)), 5))
    gen = torch.Generator().manual_seed(1)
    counts = torch.zeros(8)
    for _ in range(2000):
        counts[buf.sample(2, gen).reward[:, 0].long()] += 1
    assert counts.min() > 0.8 * 500 and counts.max() < 1.2 * 500


def test_can_sample_needs_enough_episodes():
    spec = make_spec()
    buf = EpisodeBuffer(spec, capacity=8)
    buf.insert(episodes(spec, [1, 2], 5))
    assert buf.can_sample(2) and not buf.can_sample(3)
