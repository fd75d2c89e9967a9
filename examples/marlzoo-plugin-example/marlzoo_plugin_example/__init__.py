"""An example marlzoo plugin package: three algorithms registered through entry points (a value-based
one on the Q-learning core, an on-policy one on RolloutAlgorithm, and a random baseline)."""
