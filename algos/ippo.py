"""IPPO: independent PPO (de Witt et al., 2020).

The same learner as MAPPO with one change: each agent's critic sees only what its actor sees,
``V(o_i)``, instead of the global state. Everything else (GAE, clipping, value normalisation,
masks, Box squashing) is MAPPO's.
"""

from marlzoo.algos.mappo import MAPPO


class IPPO(MAPPO):
    """PPO with decentralised critics ``V(o_i)`` (shared with the agent id, like the actor)."""

    critic_sees = "obs"
