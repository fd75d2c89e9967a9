"""VectorEnv.reset_where: a masked reset that is exactly the per-copy ``venv.envs[i].reset()`` it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marlzoo.envs.catalogue import make_env
from marlzoo.envs.vector import VectorEnv

ROWS = ("obs", "state", "avail", "alive")  # what a copy's adapter writes
ARRAYS = (*ROWS, "reward", "terminated", "truncated")
N = 4


def spread(n: int = N) -> VectorEnv:
    return VectorEnv(lambda: make_env("simple_spread", {"max_cycles": 6}), n)


def random_legal(avail: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scores = rng.random(avail.shape)
    scores[~avail] = -1.0
    return scores.argmax(axis=-1)


def snapshot(venv: VectorEnv) -> dict[str, np.ndarray]:
    return {name: getattr(venv, name).copy() for name in ARRAYS}


def test_reset_where_resets_the_masked_copies_as_their_own_reset_would_and_leaves_the_rest():
    """Two vector envs on the same seeds and actions, copies stepped at different times: one resets
    its ended copies with reset_where, the other the old way, one copy at a time. The masked copies
    get exactly the old way's arrays, the others keep theirs to the bit, and the two stay equal for
    whole episodes after (each copy's random stream goes on as before)."""
    new, old = spread(), spread()
    new.reset([3, 4, 5, 6])
    old.reset([3, 4, 5, 6])
    held = torch.from_numpy(new.obs)  # a caller's view must see every rewrite
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(60):
        actions = random_legal(new.avail, rng)
        active = rng.random(N) < 0.7
        new.step(actions, active)
        old.step(actions, active)
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=name)
        ended = new.terminated | new.truncated
        if not ended.any():
            continue
        before = snapshot(new)
        assert new.reward[ended].any()  # so that zeroing them is seen
        new.reset_where(ended)
        for i in np.flatnonzero(ended):
            old.envs[i].reset()
        resets += int(ended.sum())
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(new, name)[~ended], before[name][~ended], err_msg=name)
        for name in ROWS:
            np.testing.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=name)
        assert not np.array_equal(new.obs[ended], before["obs"][ended])
        assert not (new.reward[ended].any() or new.terminated[ended].any() or new.truncated[ended].any())
        old.reward[ended], old.terminated[ended], old.truncated[ended] = 0.0, False, False
        np.testing.assert_array_equal(held.numpy(), new.obs)
    assert resets >= 2 * N


def test_reset_where_with_seeds_is_reset_with_that_seed():
    new, old = spread(), spread()
    new.reset([0, 1, 2, 3])
    old.reset([0, 1, 2, 3])
    mask = np.array([False, True, False, True])
    new.reset_where(mask, seeds=[None, 21, 99, 23])  # seeds of unmasked copies are not used
    old.envs[1].reset(seed=21)
    old.envs[3].reset(seed=23)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=name)


def test_reset_where_refuses_a_mask_or_seeds_that_do_not_fit():
    venv = spread(2)
    with pytest.raises(ValueError, match=r"bool array of shape \(2,\)"):
        venv.reset_where(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"bool array of shape \(2,\)"):
        venv.reset_where(np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"one entry per copy \(2\), not 1"):
        venv.reset_where(np.array([True, False]), seeds=[1])
