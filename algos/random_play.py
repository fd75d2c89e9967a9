"""Random play: the baseline every learned policy has to beat.

Each agent picks one of its available discrete actions with equal probability, or a Box action
uniformly inside its bounds, and learns nothing. Because it is a registered algorithm
(``--algo random``), a results table gets a random-play row from the same runner, seeds and metric
contract as every learned row, and ``marlzoo run --algo random`` measures it on any env.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from marlzoo.algorithm import Algorithm
from marlzoo.learning.distributions import ActionBounds
from marlzoo.envs.spec import EnvSpec


@dataclass
class RandomPlayConfig:
    """Random play has no hyperparameters; the trainer still stores episodes, so keep the store tiny."""

    buffer_size: int = 1


class RandomPlay(Algorithm):
    """Uniformly random available actions (discrete) or uniform samples in the Box (continuous)."""

    Config = RandomPlayConfig
    action_kinds = ("discrete", "continuous")
    learns = False

    def __init__(self, spec: EnvSpec, config: Any = None, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config if config is not None else RandomPlayConfig(), device)
        self.bounds = ActionBounds(spec, self.device) if spec.action_kind == "continuous" else None

    def act(self, obs: torch.Tensor, avail: torch.Tensor, hidden: Any, *, explore: bool, t_env: int):
        if self.bounds is None:
            # The argmax of uniform scores over the available actions is a uniform choice among them.
            return torch.rand(avail.shape, device=avail.device).masked_fill_(~avail, -1.0).argmax(dim=-1), hidden
        unit = torch.rand(*obs.shape[:2], self.bounds.low.shape[-1], device=self.device)
        return self.bounds.low + (self.bounds.high - self.bounds.low) * unit, hidden

    def learn(self, buffer: Any, t_env: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
