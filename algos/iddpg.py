"""IDDPG: independent DDPG, MADDPG's decentralised-critic ablation (Lowe et al., 2017).

MADDPG (algos/maddpg.py) with one change: agent i's critic sees only its own observation and its
own action, ``Q_i(o_i, a_i)``, not the state and the joint action:

    critic:  Q_i(o_i, a_i)  ->  r + gamma * (1 - terminated) * Q_i'(o_i', mu_i'(o_i'))
    actor:   maximise Q_i(o_i, mu_i(o_i))

Everything else is MADDPG's: the deterministic heads (straight-through Gumbel-softmax one-hots,
or tanh into the Box bounds with clipped Gaussian noise), Polyak targets, the team reward, the
masks. ``others_actions`` has no effect, since no critic sees the other agents' actions. The paper
ran this ablation as "DDPG" beside MADDPG; BenchMARL and xuance ship it as IDDPG.
"""

from marlzoo.algos.maddpg import MADDPG
from marlzoo.learning.critics import OwnActionView


class IDDPG(MADDPG):
    """Deterministic actors trained through decentralised critics ``Q_i(o_i, a_i)``."""

    critic_view = OwnActionView
