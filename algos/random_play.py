"""Random play: the baseline every learned policy has to beat.

Each agent picks one of its available discrete actions with equal probability, or a Box action
uniformly inside its bounds (the action head's ``uniform``), and learns nothing: its update schedule
asks for no updates, and it keeps no episodes. Because it is a registered algorithm
(``--algo random``), a results table gets a random-play row from the same runner, seeds and metric
contract as every learned row, and ``marlzoo run --algo random`` measures it on any env.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import torch

from marlzoo.algorithm import ReplayAlgorithm
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.heads import make_action_head
from marlzoo.training.buffers import Discard, EpisodeBatch


class RandomPlay(ReplayAlgorithm):
    """Uniformly random available actions (discrete) or uniform samples in the Box (continuous)."""

    action_kinds = ("discrete", "continuous")
    updates_per_episode = Fraction(0)

    def __init__(self, spec: EnvSpec, config: Any = None, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.head = make_action_head(spec, device=self.device)

    def make_buffer(self) -> Discard:
        return Discard()

    def act(self, obs: torch.Tensor, avail: torch.Tensor, hidden: Any, *, explore: bool, t_env: int):
        return self.head.uniform(avail), hidden

    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        return {}  # never called: the schedule asks for no updates

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
