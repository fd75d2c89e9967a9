"""Environments: the PettingZoo adapters (parallel and turn-based), vectorisation, the catalogue of
named envs, and the Gymnasium export for single-agent libraries."""

from marlzoo.envs.adapter import Adapter, ParallelAdapter, PettingZooAdapter, TurnBasedAdapter
from marlzoo.envs.catalogue import env_names, make_env, resolve_env_factory
from marlzoo.envs.gymnasium_export import to_gymnasium
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.vector import VectorEnv

__all__ = [
    "Adapter",
    "EnvSpec",
    "ParallelAdapter",
    "PettingZooAdapter",
    "TurnBasedAdapter",
    "VectorEnv",
    "env_names",
    "make_env",
    "resolve_env_factory",
    "to_gymnasium",
]
