"""MASAC: multi-agent soft actor-critic with centralised critics, as BenchMARL and xuance ship it
(SAC: Haarnoja et al., 2018; discrete SAC: Christodoulou, 2019).

The soft actor-critic core (marlzoo/learning/soft_actor_critic.py) with critics that see the global
state and the joint action, ``Q_i(s, a_1, ..., a_n)``. With ``E_i`` the expectation over agent i's
own action (exact over a categorical, one reparameterised sample of the squashed Gaussian), the
others' actions held at samples of their current policies:

    Q_j(s, a)  ->  r + gamma * (1 - terminated) * E_i[ min_j Q_j'(s', a') - alpha * log pi_i(a_i' | o_i') ]
    actor:         minimise E_i[ alpha * log pi_i(a_i | o_i) - min_j Q_j(s, a) ]
    alpha:         tuned so that the policy's entropy approaches its target

Acting is decentralised: agent i's action is a sample of ``pi_i(. | o_i)``, its mode in greedy play.
For discrete actions a critic gives one value per own action, ``Q_i(s, a_-i, .)``, as discrete
SAC's ``Q(s, .)``: BenchMARL's discrete MASAC conditions on the state alone, ``Q_i(s, .)``; this one
on the other agents' actions too, as its continuous critics do.
"""

from marlzoo.learning.critics import JointActionView
from marlzoo.learning.soft_actor_critic import SoftActorCritic


class MASAC(SoftActorCritic):
    """Soft actor-critic with centralised twin critics ``Q_i(s, a_1, ..., a_n)``."""

    critic_view = JointActionView
