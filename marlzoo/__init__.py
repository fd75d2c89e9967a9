"""marlzoo: cooperative multi-agent reinforcement learning over one PettingZoo adapter.

The public names below load on first use, so ``import marlzoo`` (and ``marlzoo --help``) does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from marlzoo import _moved

__version__ = "0.1.0"

_EXPORTS = {
    "Algorithm": "marlzoo.algorithm",
    "ReplayAlgorithm": "marlzoo.algorithm",
    "RolloutAlgorithm": "marlzoo.algorithm",
    "PolicyStep": "marlzoo.algorithm",
    "EnvSpec": "marlzoo.envs.spec",
    "UserError": "marlzoo.errors",
    "register_algo": "marlzoo.registry",
    "train": "marlzoo.api",
    "resume": "marlzoo.api",
}
__all__ = ["__version__", *_EXPORTS]

_moved.install()

if TYPE_CHECKING:
    from marlzoo.algorithm import Algorithm, PolicyStep, ReplayAlgorithm, RolloutAlgorithm
    from marlzoo.api import resume, train
    from marlzoo.envs.spec import EnvSpec
    from marlzoo.errors import UserError
    from marlzoo.registry import register_algo


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'marlzoo' has no attribute '{name}'")
