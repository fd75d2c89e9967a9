"""The PettingZoo adapter: any ParallelEnv or AECEnv as fixed-shape arrays.

:func:`PettingZooAdapter` builds the adapter for an env. Every adapter is an :class:`Adapter` with
the same attributes and methods: ``spec``, the arrays below, ``t``, ``turn_based``,
``steps_directly``, ``bind``, ``reset``, ``step``, ``render`` and ``close``.

Per step the adapter writes, in place:
  obs    [n_agents, *obs_shape]  ``obs_shape`` is ``(obs_dim,)``, or ``(C, H, W)`` for images (channel-first,
                                 raw pixels scaled to [0, 1]); zero-padded; zeros for agents that have left
  state  [state_dim]             env.state(), or the concatenated observations
  avail  [n_agents, n_actions]   from ``action_mask`` (in a Dict observation or in ``infos``), else ones;
                                 padded actions are unavailable; a departed agent may only take action 0
                                 (the no-op, in a turn-based game), which is never sent to the env
  alive  [n_agents]              whether the agent is still in the episode
and returns the team reward (sum, or mean, over the agents' rewards), terminated, truncated.

Three ways of running an env, chosen when the adapter is built:
  parallel       a ParallelEnv (SuperSuit-wrapped or not): one step is one joint action.
  parallelised   an AECEnv whose metadata says ``is_parallelizable``: run through ``aec_to_parallel``.
  turn-based     any other AECEnv (Hanabi, ...): one step is one turn. Only the agent whose turn it is
                 acts; every other agent may only take the extra no-op action ``spec.noop_action``,
                 which is never sent to the env. The team reward of a step is the sum (or mean) of
                 ``env.rewards`` after that turn, so a round of turns adds up exactly what the agents'
                 own cumulative rewards collect, with no reward counted twice or lost.
The first two are :class:`~marlzoo.envs.parallel.ParallelAdapter`, the third
:class:`~marlzoo.envs.turns.TurnBasedAdapter`; what they share is in :mod:`marlzoo.envs.adapter_base`.
How each agent's spaces become rows of these arrays is decided once, in :mod:`marlzoo.envs.spaces`.

A Gymnasium multi-agent env (one ``gymnasium.Env`` with a Tuple of per-agent spaces: lbforaging,
rware) is not a PettingZoo env; :class:`~marlzoo.envs.gymnasium_ma.GymnasiumMultiAgentAdapter` runs
it, one joint action per step, with the same arrays. :func:`make_adapter` picks the adapter for
either kind of env.
"""

from __future__ import annotations

from typing import Any

from marlzoo.envs.adapter_base import Adapter, runs_turn_based
from marlzoo.envs.gymnasium_ma import GymnasiumMultiAgentAdapter, is_multiagent_gymnasium
from marlzoo.envs.parallel import ParallelAdapter
from marlzoo.envs.turns import TurnBasedAdapter

__all__ = [
    "Adapter", "GymnasiumMultiAgentAdapter", "ParallelAdapter", "PettingZooAdapter", "TurnBasedAdapter",
    "make_adapter",
]


def PettingZooAdapter(  # noqa: N802 -- was a class; its name is public API
    env: Any,
    env_id: str,
    episode_limit: int | None = None,
    reward_aggregation: str = "sum",
    state: str = "auto",
    scale_obs: bool = False,
) -> Adapter:
    """The adapter that presents ``env`` with the fixed shapes of its :class:`~marlzoo.envs.spec.EnvSpec`.

    A :class:`TurnBasedAdapter` for an AECEnv that PettingZoo cannot run in parallel, else a
    :class:`ParallelAdapter` (which also says why an env that is not a PettingZoo env is refused).
    ``env_id`` names the env in the spec and in errors. ``episode_limit`` counts adapter steps (turns,
    for a turn-based game); when it is None it is read from the env's ``max_cycles`` (or
    ``max_steps``, ...), and a turn-based game then gets ``max_cycles * n_agents`` turns.
    ``reward_aggregation`` is ``"sum"`` or ``"mean"`` over the agents' rewards; ``state`` is
    ``"auto"`` (``env.state()`` where the env has one and it is not an image), ``"env"`` or
    ``"concat_obs"``. ``scale_obs`` scales every rank-1 Box observation whose bounds are finite from
    them to [0, 1] (raw pixels are scaled in any case).
    """
    adapter = TurnBasedAdapter if runs_turn_based(env) else ParallelAdapter
    return adapter(env, env_id, episode_limit=episode_limit, reward_aggregation=reward_aggregation, state=state,
                   scale_obs=scale_obs)


def make_adapter(env: Any, env_id: str, **options: Any) -> Adapter:
    """The adapter for ``env``: a :class:`GymnasiumMultiAgentAdapter` for a Gymnasium env with a
    Tuple action space, else :func:`PettingZooAdapter`'s choice. ``options`` are
    :func:`PettingZooAdapter`'s (``episode_limit``, ``reward_aggregation``, ``state``, ``scale_obs``)."""
    adapter = GymnasiumMultiAgentAdapter if is_multiagent_gymnasium(env) else PettingZooAdapter
    return adapter(env, env_id, **options)
