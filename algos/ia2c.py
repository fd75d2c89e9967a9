"""IA2C: independent advantage actor-critics (Papoudakis et al., 2021, as in EPyMARL).

MAA2C with one change: each agent's critic sees only what its actor sees, ``V(o_i)``, not the
global state, so nothing is centralised, in training either. The loss is MAA2C's:

    A_t = R_t - V(o_t),   L = -log pi(a_t | o_t) A_t - c_ent * entropy + (V(o_t) - R_t)^2

with ``R_t`` the n-step return to the end of the rollout or episode. The defaults are MAA2C's but
for EPyMARL's IA2C entropy coefficient, 0.001 (its ia2c.yaml also takes GRU agents of 128 units;
here agents are feed-forward, as simple_spread's observations carry velocities).
"""

from __future__ import annotations

from dataclasses import dataclass

from marlzoo.algos.maa2c import MAA2C, MAA2CConfig


@dataclass
class IA2CConfig(MAA2CConfig):
    """IA2C's hyperparameters: MAA2C's, with EPyMARL's IA2C entropy coefficient."""

    entropy_coef: float = 0.001


class IA2C(MAA2C):
    """Advantage actor-critics with decentralised critics ``V(o_i)`` (shared with the agent id)."""

    Config = IA2CConfig
    critic_sees = "obs"
