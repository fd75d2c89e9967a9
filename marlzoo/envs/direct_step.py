"""Stepping a PettingZoo AEC env in parallel, without the cost of PettingZoo's conversion wrapper.

mpe2, SISL and Butterfly build their ``parallel_env`` as ``aec_to_parallel_wrapper`` around an AEC
env. For each agent, that wrapper calls ``last()`` (which computes the agent's observation) and
throws the result away, and every attribute it reads passes through each wrapper's ``__getattr__``.
On mpe2's simple_spread this is about 40% of a step.

:func:`direct_step` gives a step function that does exactly what the wrapper's ``step`` does, in the
same order, minus the discarded observations. It reads the env's dicts from the unwrapped env and
skips the wrappers that only check what they are given (marlzoo only sends actions from the
space). Its results are the same objects with the same values, step for step
(``tests/test_direct_step.py`` compares them over whole episodes on every env family it covers).

It is used only where that holds by construction:

* the parallel env is exactly PettingZoo's ``aec_to_parallel_wrapper``;
* every wrapper under it is one whose behaviour is known (:data:`CHECK_ONLY` and :data:`STEPPED_THROUGH`);
* the env comes from a package whose ``observe()`` is a pure read (:data:`PURE_OBSERVE_PACKAGES`), so
  skipping the discarded observations changes nothing else.

Any other env is stepped through its own ``step``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from pettingzoo.utils.conversions import aec_to_parallel_wrapper
from pettingzoo.utils.wrappers import (
    AssertOutOfBoundsWrapper,
    BaseWrapper,
    ClipOutOfBoundsWrapper,
    OrderEnforcingWrapper,
)

Step = Callable[[dict], tuple[dict, dict, dict, dict, dict]]

# Wrappers that only check their input or call order: safe to step around, given valid actions after a reset.
CHECK_ONLY = (OrderEnforcingWrapper, AssertOutOfBoundsWrapper)
# Wrappers that may change an action (clip it into its Box): the step still goes through them.
STEPPED_THROUGH = (ClipOutOfBoundsWrapper,)
PURE_OBSERVE_PACKAGES = frozenset({"mpe2", "pettingzoo"})


def _step_target(aec_env: Any) -> Any | None:
    """The outermost env under ``aec_env`` that is not a check-only wrapper, or None if the chain
    holds a wrapper whose behaviour is not known."""
    target, node = None, aec_env
    while isinstance(node, BaseWrapper):
        if type(node) in STEPPED_THROUGH:
            target = target or node
        elif type(node) not in CHECK_ONLY:
            return None
        node = node.env
    return target or node


def direct_step(env: Any) -> Step | None:
    """A step function equivalent to ``env.step`` for a parallel env it covers (see the module
    docstring), else None."""
    if type(env) is not aec_to_parallel_wrapper:
        return None
    raw = env.aec_env.unwrapped
    if type(raw).__module__.split(".")[0] not in PURE_OBSERVE_PACKAGES:
        return None
    target = _step_target(env.aec_env)
    if target is None:
        return None
    target_step, observe = target.step, target.observe

    def step(actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        rewards: dict = defaultdict(int)
        for agent in raw.agents:
            if agent != raw.agent_selection:
                raise AssertionError(f"expected agent {agent}, got {raw.agent_selection}: the env's agents do not "
                                     "step in a cycle, which a parallel env needs")
            target_step(actions[agent])
            step_rewards = raw.rewards
            for other in raw.agents:
                rewards[other] += step_rewards[other]
        terminations, truncations, infos = dict(raw.terminations), dict(raw.truncations), dict(raw.infos)
        observations = {agent: observe(agent) for agent in raw.agents}
        while raw.agents and (raw.terminations[raw.agent_selection] or raw.truncations[raw.agent_selection]):
            target_step(None)
        env.agents = raw.agents
        return observations, rewards, terminations, truncations, infos

    return step
