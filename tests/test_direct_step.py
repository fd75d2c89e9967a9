"""direct_step does exactly what PettingZoo's aec_to_parallel_wrapper.step does, episode after episode."""

import numpy as np
import pytest
from mpe2 import simple_reference_v3, simple_speaker_listener_v4, simple_spread_v3
from pettingzoo.utils.conversions import aec_to_parallel_wrapper
from pettingzoo.utils.wrappers import BaseWrapper

from marlzoo.envs.adapter import PettingZooAdapter
from marlzoo.envs.direct_step import direct_step
from tests.envs_for_tests import MaskedCorridor

multiwalker_v9 = pytest.importorskip("pettingzoo.sisl.multiwalker_v9")
pistonball_v6 = pytest.importorskip("pettingzoo.butterfly.pistonball_v6")

FAMILIES = {
    "simple_spread": lambda: simple_spread_v3.parallel_env(max_cycles=25),
    "simple_spread_continuous": lambda: simple_spread_v3.parallel_env(max_cycles=25, continuous_actions=True),
    "simple_speaker_listener": lambda: simple_speaker_listener_v4.parallel_env(max_cycles=25),
    "simple_reference": lambda: simple_reference_v3.parallel_env(max_cycles=25),
    # walkers fall and are removed mid-episode: agents leave the cycle
    "multiwalker_removal": lambda: multiwalker_v9.parallel_env(terminate_on_fall=False, remove_on_fall=True,
                                                               max_cycles=60),
    "pistonball": lambda: pistonball_v6.parallel_env(n_pistons=4, max_cycles=8),
}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_direct_step_returns_what_the_parallel_wrapper_returns(family):
    wrapped, direct = FAMILIES[family](), FAMILIES[family]()
    step = direct_step(direct)
    assert step is not None, f"{family} should be stepped directly"
    spaces = {a: wrapped.action_space(a) for a in wrapped.possible_agents}
    for i, space in enumerate(spaces.values()):
        space.seed(i)
    departures = 0
    for episode in range(3):
        obs_a, _ = wrapped.reset(seed=episode)
        obs_b, _ = direct.reset(seed=episode)
        assert _same(obs_a, obs_b)
        while wrapped.agents:
            before = len(wrapped.agents)
            actions = {a: spaces[a].sample() for a in wrapped.agents}
            for got_a, got_b in zip(wrapped.step(actions), step(actions)):
                assert _same(got_a, got_b)
            assert wrapped.agents == direct.agents
            if wrapped.agents and len(wrapped.agents) < before:
                departures += 1
        assert direct.agents == []
    if family == "multiwalker_removal":
        assert departures > 0, "random walkers should fall and leave within three episodes"


def test_the_adapter_steps_mpe_directly():
    assert PettingZooAdapter(simple_spread_v3.parallel_env(max_cycles=25), "simple_spread").steps_directly


def test_envs_it_does_not_know_are_stepped_through_their_own_step():
    assert direct_step(MaskedCorridor()) is None  # a ParallelEnv of our own, not a converted AEC env
    unknown_wrapper = aec_to_parallel_wrapper(BaseWrapper(simple_spread_v3.env(max_cycles=25)))
    assert direct_step(unknown_wrapper) is None
    adapter = PettingZooAdapter(unknown_wrapper, "wrapped_spread")
    assert not adapter.steps_directly
    adapter.reset(seed=0)
    reward, terminated, truncated = adapter.step(np.zeros(3, dtype=np.int64))
    assert reward < 0 and not terminated and not truncated
