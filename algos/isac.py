"""ISAC: independent soft actor-critic, MASAC's decentralised-critic counterpart, as BenchMARL and
xuance ship it (SAC: Haarnoja et al., 2018; discrete SAC: Christodoulou, 2019).

The soft actor-critic core (marlzoo/learning/soft_actor_critic.py) with critics that see only the
agent's own observation and action, ``Q_i(o_i, a_i)``; each agent learns from the team reward as
if the others were part of the env:

    Q_j(o_i, a_i)  ->  r + gamma * (1 - terminated) * E_i[ min_j Q_j'(o_i', a_i') - alpha * log pi_i(a_i' | o_i') ]
    actor:             minimise E_i[ alpha * log pi_i(a_i | o_i) - min_j Q_j(o_i, a_i) ]
    alpha:             tuned so that the policy's entropy approaches its target

``E_i`` is exact over a categorical (the critic then gives one value per action, ``Q_i(o_i, .)``,
discrete SAC's critic) and one reparameterised sample of the squashed Gaussian.
``others_actions`` has no effect, since no critic sees the other agents' actions.
"""

from marlzoo.learning.critics import OwnActionView
from marlzoo.learning.soft_actor_critic import SoftActorCritic


class ISAC(SoftActorCritic):
    """Soft actor-critic with decentralised twin critics ``Q_i(o_i, a_i)``."""

    critic_view = OwnActionView
