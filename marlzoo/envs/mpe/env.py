"""The ``vectorised`` backend: B copies of an mpe2 task stepped as arrays, exact to mpe2 through marlzoo's adapter.

:class:`MPEVectorEnv` implements :class:`~marlzoo.envs.batched.BatchedEnv` with the arrays, spec and
episode ends that :class:`~marlzoo.envs.vector.VectorEnv` over mpe2's ``parallel_env`` gives for the
same seeds and actions:

* actions as marlzoo's adapter sends them: a discrete index is mpe2's action (simple_reference's 50
  are ``move + 5 * word``); a continuous vector is cut to the agent's Box and clipped into [0, 1]
  (mpe2's ``ClipOutOfBoundsWrapper``), its components ``[no-op, left, right, down, up]`` give the
  force ``(right - left, up - down) * 5``, and the rest is the utterance;
* each copy has its own ``numpy.random.Generator``, seeded as gymnasium seeds mpe2's env
  (``seeding.np_random``), which draws the copy's ``reset_world`` in mpe2's order; a reset without a
  seed continues it, and a new env's generator starts where mpe2's does (unseeded, or seeded 0 when
  marlzoo's adapter reads ``state()`` once on construction);
* ``max_cycles`` truncates an episode (or ``env.episode_limit``, if it is shorter); the team reward is
  the sum (or mean) of the agents' rewards; the state is ``env.state()`` (the agents' observations,
  unpadded) or, with ``env.state=concat_obs``, the padded observations.

Resets loop over the copies being reset (a few draws each); steps are batched over all copies.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding

from marlzoo.envs.adapter_base import build_spec, check_env_options
from marlzoo.rngstate import object_rng_state, set_object_rng_state
from marlzoo.envs.batched import apply_time_limit, check_reset_mask, check_rows_finite, check_time_limit
from marlzoo.envs.catalogue import env_names
from marlzoo.envs.mpe.scenarios import DRAWING, MOVE_FORCE, MOVES, SCENARIOS, SENSITIVITY, TARGETS, Scenario
from marlzoo.envs.mpe.world import Worlds, physics_step
from marlzoo.envs.spaces import action_codec, observation_codec
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import UserError

BACKEND = "vectorised"
MPE2_VERSION = "1.1.1"  # the mpe2 release whose physics, draws and rewards this reproduces
COMMON_KWARGS = {"max_cycles": 25, "continuous_actions": False}


def scenario_for(name: str) -> str | None:
    """The task the vectorised backend runs for env ``name`` (a catalogue name or a
    ``module:factory`` path), or None if it covers no such env."""
    return TARGETS.get(env_names().get(name, name))


def _check_kwargs(task: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The scenario's kwargs (mpe2's defaults filled in) and the env's; a one-line UserError for
    anything this backend does not take."""
    scenario = SCENARIOS[task]
    accepted = {**scenario.kwargs, **COMMON_KWARGS}
    for key in kwargs:
        if key in scenario.refused or key in ("benchmark_data", "render_mode"):
            raise UserError(f"env.kwargs.{key} is not supported by env.backend={BACKEND} ({task}); "
                            f"env.backend=pettingzoo (mpe2) has it")
        if key not in accepted and key not in DRAWING:
            raise UserError(f"env '{task}' takes no kwarg '{key}' (env.backend={BACKEND} takes "
                            f"{', '.join(sorted([*accepted, *DRAWING]))})")
    values = {**accepted, **{k: v for k, v in kwargs.items() if k not in DRAWING}}
    for key in ("N", "max_cycles"):
        if key in values and (not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < 1):
            raise UserError(f"env.kwargs.{key} must be a positive integer, not {values[key]!r}")
    ratio = values.get("local_ratio", 0.0)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise UserError(f"env.kwargs.local_ratio must be a number from 0 to 1, not {ratio!r}")
    if not isinstance(values["continuous_actions"], bool):
        raise UserError(f"env.kwargs.continuous_actions must be true or false, not {values['continuous_actions']!r}")
    return values


def _action_space(scenario: Scenario, agent: int, continuous: bool) -> spaces.Space:
    """mpe2's action space for the agent (``SimpleEnv.__init__``)."""
    movable, silent = scenario.movable[agent], scenario.silent[agent]
    size = MOVES if movable else (0 if continuous else 1)
    if not silent:
        size = size + scenario.dim_c if continuous else size * scenario.dim_c
    return spaces.Box(low=0, high=1, shape=(size,)) if continuous else spaces.Discrete(size)


class MPEVectorEnv:
    """``n`` copies of mpe2's ``task`` with ``kwargs``, as a :class:`~marlzoo.envs.batched.BatchedEnv`.

    ``env_id``, ``episode_limit``, ``reward_aggregation``, ``state`` and ``scale_obs`` mean what they
    mean for :func:`~marlzoo.envs.adapter.PettingZooAdapter`. ``spec`` is the adapter's spec for the
    same env, with a note on the backend in its ``transforms``.
    """

    def __init__(self, task: str, n: int, kwargs: dict[str, Any] | None = None, env_id: str | None = None,
                 episode_limit: int | None = None, reward_aggregation: str = "sum", state: str = "auto",
                 scale_obs: bool = False, time_limit: str = "truncate") -> None:
        check_env_options(reward_aggregation, state)
        self.time_limit = check_time_limit(time_limit)
        values = _check_kwargs(task, dict(kwargs or {}))
        self.max_cycles, self.continuous = values.pop("max_cycles"), values.pop("continuous_actions")
        self.scenario = scenario = SCENARIOS[task](**values)
        self._mean_reward = reward_aggregation == "mean"
        A = scenario.n_agents
        self.spec = self._make_spec(env_id or task, episode_limit, reward_aggregation, state, scale_obs)
        self.limit = min(episode_limit or self.max_cycles, self.max_cycles)
        obs_dim = self.spec.obs_dim
        self.obs = np.zeros((n, A, obs_dim), dtype=np.float32)
        self.state = np.zeros((n, self.spec.state_dim), dtype=np.float32)
        self.avail = np.zeros((n, A, 1 if self.continuous else self.spec.n_actions), dtype=bool)
        self.alive = np.zeros((n, A), dtype=bool)
        self.reward = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)
        self._static_avail = np.zeros(self.avail.shape[1:], dtype=bool)
        for i, size in enumerate(self._sizes):
            self._static_avail[i, : 1 if self.continuous else size] = True
        self.t = np.zeros(n, dtype=np.int64)
        self.worlds = Worlds.zeros(n, A, scenario.n_landmarks, scenario.dim_c, scenario.n_goals)
        self._movable = np.flatnonzero(scenario.movable)
        self._rngs = [self._new_generator(probed=state != "concat_obs") for _ in range(n)]

    def _make_spec(self, env_id: str, episode_limit: int | None, reward_aggregation: str, state: str,
                   scale_obs: bool) -> EnvSpec:
        """The spec marlzoo's adapter gives mpe2's env, built from mpe2's spaces by the adapter's codecs."""
        scenario = self.scenario
        obs_codecs = [observation_codec(spaces.Box(-np.float32(np.inf), np.float32(np.inf), (size,), np.float32),
                                        env_id, a, scale_obs) for a, size in zip(scenario.agents, scenario.obs_sizes())]
        act_codecs = [action_codec(_action_space(scenario, i, self.continuous), env_id, a)
                      for i, a in enumerate(scenario.agents)]
        self._sizes = [c.size for c in act_codecs]
        obs_dim = max(c.size for c in obs_codecs)
        uses_env_state = state != "concat_obs"
        # env.state() is the agents' observations unpadded: their places in the padded rows.
        self._state_index = (np.concatenate([i * obs_dim + np.arange(c.size) for i, c in enumerate(obs_codecs)])
                             if uses_env_state else None)
        return build_spec(
            None, env_id, scenario.agents, obs_codecs, act_codecs,
            obs_shape=(obs_dim,),
            state_dim=len(self._state_index) if uses_env_state else scenario.n_agents * obs_dim,
            n_actions=max(self._sizes),
            episode_limit=episode_limit or self.max_cycles,
            reward_aggregation=reward_aggregation,
            uses_env_state=uses_env_state,
            turn_based=False,
            noop_action=None,
            transforms=[f"backend: {BACKEND} (marlzoo's numpy MPE, exact to mpe2 {MPE2_VERSION})"],
            package=("mpe2", MPE2_VERSION),
        )

    def _new_generator(self, probed: bool) -> np.random.Generator:
        """A generator where a freshly built mpe2 env's is: unseeded after the draws of its constructor,
        or, when marlzoo's adapter read ``state()`` on construction, after a reset seeded 0."""
        rng = seeding.np_random(0 if probed else None)[0]
        self.scenario.draw(rng, Worlds.zeros(1, self.scenario.n_agents, self.scenario.n_landmarks,
                                             self.scenario.dim_c, self.scenario.n_goals), 0)
        return rng

    @property
    def n(self) -> int:
        """The number of copies."""
        return len(self.reward)

    # ------------------------------------------------------------------ resets
    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues its own random stream), and zero
        every copy's ``reward``, ``terminated`` and ``truncated``."""
        self.reset_where(np.ones(self.n, dtype=bool), list(seeds))

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        """Reset the copies where ``mask`` is true (see :class:`~marlzoo.envs.batched.BatchedEnv`)."""
        mask = check_reset_mask(mask, seeds, self.n)
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        for i in rows:
            seed = None if seeds is None else seeds[i]
            if seed is not None:
                try:
                    self._rngs[i] = seeding.np_random(seed)[0]
                except Exception as exc:  # gymnasium's refusal of a seed that is not a non-negative int
                    raise UserError(f"env '{self.spec.env_id}': cannot seed copy {i} with {seed!r}: {exc}") from None
            self.scenario.draw(self._rngs[i], self.worlds, i)
        self.t[rows] = 0
        self.avail[rows] = self._static_avail
        self.alive[rows] = True
        self._write(rows)
        self.reward[rows] = 0.0
        self.terminated[rows] = False
        self.truncated[rows] = False
        check_rows_finite(self, mask, "reset", lambda i: int(self.t[i]))

    # ------------------------------------------------------------------ checkpoints
    def _saved_arrays(self) -> dict[str, np.ndarray]:
        w = self.worlds
        return {"pos": w.pos, "vel": w.vel, "comm": w.comm, "landmarks": w.landmarks, "goals": w.goals, "t": self.t,
                "obs": self.obs, "state": self.state, "avail": self.avail, "alive": self.alive,
                "reward": self.reward, "terminated": self.terminated, "truncated": self.truncated}

    def state_dict(self) -> dict[str, Any]:
        """Every copy's world, step count, arrays and random generator, as tensors and plain containers:
        unlike the adapters, the whole state is in arrays, so nothing is replayed."""
        return {"arrays": {k: torch.from_numpy(v.copy()) for k, v in self._saved_arrays().items()},
                "rngs": object_rng_state(self._rngs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Bring the copies to the states :meth:`state_dict` saved (a ValueError if they do not fit)."""
        arrays = self._saved_arrays()
        saved = state["arrays"]
        if saved.keys() != arrays.keys() or any(tuple(saved[k].shape) != v.shape for k, v in arrays.items()):
            raise ValueError("the saved env copies do not fit this env (another task, kwargs or number of copies)")
        for name, values in arrays.items():
            values[...] = saved[name].numpy()  # in place: callers hold views of these arrays
        set_object_rng_state(self._rngs, state["rngs"])

    # ------------------------------------------------------------------ steps
    def _decode(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each agent's action force ``[b, A, 2]`` and utterance ``[b, A, dim_c]``, as mpe2 sets them."""
        scenario, b = self.scenario, len(actions)
        u = np.zeros((b, scenario.n_agents, 2))
        c = np.zeros((b, scenario.n_agents, scenario.dim_c))
        for i in range(scenario.n_agents):
            if self.continuous:
                a = np.clip(actions[:, i, : self._sizes[i]], 0.0, 1.0)  # ClipOutOfBoundsWrapper
                if scenario.movable[i]:
                    u[:, i, 0] = a[:, 2] - a[:, 1]
                    u[:, i, 1] = a[:, 4] - a[:, 3]
                    a = a[:, MOVES:]
                if not scenario.silent[i]:
                    c[:, i] = a
            else:
                a = actions[:, i].astype(np.int64)
                if scenario.movable[i]:
                    u[:, i] = MOVE_FORCE[a % MOVES]
                    a = a // MOVES
                if not scenario.silent[i]:
                    c[np.arange(b), i, a] = 1.0
        u *= SENSITIVITY
        return u, c

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]``; the others keep
        their last arrays."""
        active = np.asarray(active, dtype=bool)
        if not active.any():
            return
        rows: Any = slice(None) if active.all() else np.flatnonzero(active)
        worlds, scenario = self.worlds, self.scenario
        u, c = self._decode(np.asarray(actions)[rows])
        worlds.pos[rows], worlds.vel[rows] = physics_step(worlds.pos[rows], worlds.vel[rows], u, self._movable,
                                                          scenario.collide_size)
        worlds.comm[rows] = c  # the silent agents' utterances are zeros
        rewards = scenario.rewards(worlds, rows)
        team = rewards[:, 0]
        for agent in range(1, scenario.n_agents):
            team = team + rewards[:, agent]
        if self._mean_reward:
            team = team / scenario.n_agents
        self.t[rows] += 1
        self._write(rows)
        self.reward[rows] = team
        self.terminated[rows] = False
        self.truncated[rows] = self.t[rows] >= self.limit
        apply_time_limit(self, active, self.time_limit)
        check_rows_finite(self, active, "step", lambda i: int(self.t[i]))

    def _write(self, rows: Any) -> None:
        """The observations and states of the copies ``rows``, from their worlds."""
        self.scenario.observe(self.worlds, rows, self.obs)
        flat = self.obs[rows].reshape(-1, self.obs[0].size)
        self.state[rows] = flat if self._state_index is None else flat[:, self._state_index]

    def close(self) -> None:
        """Nothing to release: the copies are arrays."""


def covers(name: str, kwargs: dict[str, Any] | None = None) -> bool:
    """Whether this backend runs env ``name`` with ``kwargs`` (what ``env.backend: auto`` asks)."""
    task = scenario_for(name)
    if task is None:
        return False
    try:
        _check_kwargs(task, dict(kwargs or {}))
    except UserError:
        return False
    return True


def vectorised_env(name: str, n: int, kwargs: dict[str, Any] | None = None, episode_limit: int | None = None,
                   reward_aggregation: str = "sum", state: str = "auto", scale_obs: bool = False,
                   time_limit: str = "truncate") -> MPEVectorEnv:
    """``n`` copies of env ``name`` on the vectorised backend; a one-line UserError for an env it does not cover."""
    task = scenario_for(name)
    if task is None:
        covered = ", ".join(SCENARIOS)
        raise UserError(f"env.backend={BACKEND} covers mpe2's {covered}, not '{name}'; use env.backend=pettingzoo")
    return MPEVectorEnv(task, n, kwargs, env_id=name, episode_limit=episode_limit,
                        reward_aggregation=reward_aggregation, state=state, scale_obs=scale_obs, time_limit=time_limit)
