"""A uniformly random policy over the available actions, written from scratch on ReplayAlgorithm.

It learns nothing (its schedule asks for no updates, and it keeps no episodes); it is the baseline
every learned policy must beat.
"""

from fractions import Fraction

import torch

from marlzoo import ReplayAlgorithm
from marlzoo.training.buffers import Discard


class RandomPolicy(ReplayAlgorithm):
    action_kinds = ("discrete", "continuous")
    updates_per_episode = Fraction(0)

    def make_buffer(self):
        return Discard()

    def act(self, obs, avail, hidden, *, explore, t_env):
        if self.spec.action_kind == "discrete":
            scores = torch.rand(avail.shape).masked_fill_(~avail, -1.0)
            return scores.argmax(dim=-1), hidden
        low = torch.tensor(self.spec.action_low, dtype=torch.float32)
        high = torch.tensor(self.spec.action_high, dtype=torch.float32)
        return low + (high - low) * torch.rand(obs.shape[0], *low.shape), hidden

    def update(self, batch, t_env):
        return {}  # never called: no updates are scheduled

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
