"""The training machinery: the trainer and its loops, the episode and rollout runners, the buffers,
the learner process, checkpoints, the metric sinks, the console, and greedy evaluation."""
