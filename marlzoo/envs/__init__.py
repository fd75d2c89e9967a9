"""Environments: the PettingZoo adapter, vectorisation and the catalogue of named envs."""

from marlzoo.envs.adapter import PettingZooAdapter
from marlzoo.envs.catalogue import env_names, make_env, resolve_env_factory
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.vector import VectorEnv

__all__ = ["EnvSpec", "PettingZooAdapter", "VectorEnv", "env_names", "make_env", "resolve_env_factory"]
