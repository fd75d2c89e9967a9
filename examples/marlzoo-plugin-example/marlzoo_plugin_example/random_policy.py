"""A uniformly random policy over the available actions, written against the bare Algorithm contract.

It learns nothing; it is the baseline every learned policy must beat.
"""

from dataclasses import dataclass

import torch

from marlzoo import Algorithm


@dataclass
class RandomPolicyConfig:
    buffer_size: int = 1  # the trainer still stores episodes; keep the store tiny


class RandomPolicy(Algorithm):
    Config = RandomPolicyConfig
    buffer = "episodes"
    action_kinds = ("discrete", "continuous")

    def act(self, obs, avail, hidden, *, explore, t_env):
        if self.spec.action_kind == "discrete":
            scores = torch.rand(avail.shape).masked_fill_(~avail, -1.0)
            return scores.argmax(dim=-1), hidden
        low = torch.tensor(self.spec.action_low, dtype=torch.float32)
        high = torch.tensor(self.spec.action_high, dtype=torch.float32)
        return low + (high - low) * torch.rand(obs.shape[0], *low.shape), hidden

    def learn(self, buffer, t_env):
        return {}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
