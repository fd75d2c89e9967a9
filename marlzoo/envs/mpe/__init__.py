"""mpe2's cooperative tasks as native batched envs (the ``vectorised`` backend): :mod:`.world` is the
physics, :mod:`.scenarios` the tasks, :mod:`.env` the :class:`~marlzoo.envs.batched.BatchedEnv`."""

from marlzoo.envs.mpe.env import BACKEND, MPEVectorEnv, covers, scenario_for, vectorised_env
from marlzoo.envs.mpe.scenarios import SCENARIOS

__all__ = ["BACKEND", "MPEVectorEnv", "SCENARIOS", "covers", "scenario_for", "vectorised_env"]
