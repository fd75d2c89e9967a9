"""IDQN: independent deep Q-learning.

Each agent learns its own Q_i(o_i, a_i) from the team reward, as if the other agents were part of
the environment. There is no mixer: every agent's TD error is its own, against
``r + gamma * Q_i^target(o_i', argmax_a Q_i(o_i', a))``. Everything else is the shared core.
"""

from marlzoo.learning.qlearning import QLearner


class IDQN(QLearner):
    """Independent deep Q-learners sharing one network (with agent ids), trained on the team reward."""

    def build_mixer(self) -> None:
        return None
