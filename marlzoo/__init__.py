"""marlzoo: cooperative multi-agent reinforcement learning over one PettingZoo adapter."""

__version__ = "0.1.0"

from marlzoo.errors import UserError  # noqa: E402
from marlzoo.algorithm import Algorithm  # noqa: E402
from marlzoo.envs.spec import EnvSpec  # noqa: E402
from marlzoo.registry import register_algo  # noqa: E402
from marlzoo.api import train  # noqa: E402

__all__ = ["__version__", "Algorithm", "EnvSpec", "UserError", "register_algo", "train"]
