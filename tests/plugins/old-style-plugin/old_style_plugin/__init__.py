"""A plugin written against marlzoo 0.1's README, unchanged: a QLearner subclass imported from
``marlzoo.qlearning``, and a bare ``marlzoo.Algorithm`` with ``buffer = "episodes"`` and
``learn(buffer, t_env)``. tests/test_plugins.py installs it and trains both."""
