"""The VMAS backend: B copies of a VMAS scenario (PyPI ``vmas``, batched in torch), named ``vmas:<scenario>``.

:class:`VmasEnv` implements :class:`~marlzoo.envs.batched.BatchedEnv` over one ``vmas.make_env``
environment of B copies. What marlzoo adds, and what it means:

* **Names.** ``vmas:navigation``, ``vmas:balance``, ``vmas:simple_spread``, ...: any scenario VMAS
  ships (its scenarios, its MPE ports and its debug scenarios). A ``vmas:`` name always runs here;
  it is never read as a ``module:factory`` path (:mod:`marlzoo.envs.catalogue` refuses it).
  VMAS's ``simple_spread`` and the other MPE names are VMAS's own ports of MPE, not mpe2: their
  physics, draws and rewards differ, so their returns do not compare with marlzoo's mpe2 tasks.
* **Kwargs.** ``env.kwargs`` go to the scenario, except ``continuous_actions`` (default false here,
  as for marlzoo's MPE tasks, so every algorithm runs; VMAS's own default is true) and ``max_steps``.
* **Episodes.** An episode lasts ``max_steps`` (or ``env.episode_limit`` if it is shorter;
  :data:`DEFAULT_MAX_STEPS` if neither is set) unless the scenario's ``done()`` ends it first:
  ``done()`` is ``terminated``, the time limit ``truncated``.
* **Rewards and state.** The team reward is the sum (or mean, ``env.reward_aggregation``) of the
  agents' VMAS rewards; a scenario with a shared reward gives every agent the same one, so the sum
  is ``n_agents`` times it. VMAS has no global state: the state is the concatenated (padded) observations.
* **Actions.** A discrete action is VMAS's action index; a continuous one is clamped into the
  agent's range (VMAS's ``clamp_actions``).
* **Random numbers.** VMAS draws from the global torch, numpy and ``random`` generators, swapping
  in one state kept for all its environments. Each :class:`VmasEnv` keeps its own such state and
  swaps it in around every call, so the train and test envs of a run draw independent streams and
  marlzoo's own generators are untouched. It starts seeded with the run's seed.
* **Per-copy seeds.** VMAS has one random stream for all B copies, not one per copy. A copy reset
  with seed ``s`` is reset by VMAS's ``reset_at`` right after VMAS's ``seed(s)``: it starts where
  that seed puts it, whichever copy it is and whatever the others do. A reset without a seed
  continues the env's one stream, so a copy's later starts depend on the order in which the copies
  were reset. A run is reproducible from its seed either way.
* **Costs.** VMAS steps every copy at once: a copy left out of ``active`` is stepped inside VMAS
  with a zero action while its rows are kept, so reset it before stepping it again (the runners
  always do). Resetting every copy without seeds is one batched VMAS reset; any other reset calls
  ``reset_at`` once per copy, which VMAS makes cost about as much as a step of all the copies.
* **Checkpoints.** VMAS keeps its copies' state in its own torch objects, which marlzoo cannot save
  and restore exactly, so a run on this backend checkpoints its networks (``marlzoo eval`` works)
  but refuses ``--resume`` in one line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import reprlib
import textwrap
import warnings
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from gymnasium import spaces

from marlzoo.envs.adapter_base import build_spec, check_env_options
from marlzoo.envs.batched import apply_time_limit, check_reset_mask, check_rows_finite, check_time_limit
from marlzoo.envs.spaces import action_codec, observation_codec
from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import EnvCodeError, UserError
from marlzoo.suggest import closest

PREFIX = "vmas:"
BACKEND = "vmas"
DEFAULT_MAX_STEPS = 100  # the max_steps of BenchMARL's VMAS task configs
# vmas.make_env's own arguments that this backend sets itself.
RESERVED_KWARGS = ("num_envs", "device", "seed", "wrapper", "wrapper_kwargs", "dict_spaces", "multidiscrete_actions",
                   "clamp_actions", "grad_enabled", "terminated_truncated")
INSTALL_HINT = "pip install 'marlzoo[vmas]'"
UNUSED_KWARGS = "passed but not used by the scenario"  # VMAS's warning about kwargs a scenario left


def is_vmas_name(name: str) -> bool:
    """Whether env ``name`` is a VMAS scenario (``vmas:<scenario>``), which only this backend runs."""
    return name.startswith(PREFIX)


def _vmas() -> Any:
    try:
        import vmas
    except ImportError as exc:
        raise UserError(f"the VMAS backend needs the vmas package, which failed to import: {exc} ({INSTALL_HINT})") from None
    return vmas


def vmas_installed() -> bool:
    """Whether the vmas package can be imported (without importing it)."""
    return importlib.util.find_spec("vmas") is not None


def scenario_names() -> list[str]:
    """Every scenario VMAS ships: its own, its MPE ports and its debug scenarios."""
    vmas = _vmas()
    return sorted({*vmas.scenarios, *vmas.mpe_scenarios, *vmas.debug_scenarios})


def vmas_line() -> str:
    """``marlzoo list``'s line for this backend: its names, and its scenarios if vmas is installed."""
    head = f"  {PREFIX + '<scenario>':<24} {'vmas':<22} "
    if not vmas_installed():
        return head + f"VMAS scenarios, batched in torch ({INSTALL_HINT})"
    names = textwrap.fill(", ".join(scenario_names()), width=110, initial_indent=" " * 4, subsequent_indent=" " * 4)
    return head + "VMAS scenarios, batched in torch, one of:\n" + names


def _scenario(name: str) -> str:
    """The scenario of env ``name`` (``vmas:<scenario>``); a one-line UserError if VMAS has none such."""
    scenario = name[len(PREFIX):]
    known = scenario_names()
    if scenario not in known:
        hint = closest(scenario, known)
        raise UserError(f"env '{name}': VMAS has no scenario '{scenario}'"
                        + (f"; did you mean '{PREFIX}{hint}'?" if hint else f" (it has {', '.join(known)})"))
    return scenario


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{what} must be a positive integer, not {value!r}")
    return value


def _seeded_state(seed: int) -> list[Any]:
    """VMAS's random state (torch, numpy, ``random``) as it is right after VMAS's ``seed(seed)``."""
    return [torch.Generator().manual_seed(seed).get_state(), np.random.RandomState(seed).get_state(),
            random.Random(seed).getstate()]


def _check_seed(seed: Any, env_id: str, i: int) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise UserError(f"env '{env_id}': cannot seed copy {i} with {seed!r}; a seed is an integer from 0 to 2**32 - 1")
    return int(seed)


def _gymnasium_space(space: Any) -> spaces.Space:
    """VMAS's (gym 0.26) action space of one agent as the gymnasium space marlzoo's codecs read."""
    if hasattr(space, "n"):
        return spaces.Discrete(int(space.n))
    return spaces.Box(np.asarray(space.low, dtype=np.float32), np.asarray(space.high, dtype=np.float32),
                      dtype=np.float32)


class VmasEnv:
    """``n`` copies of VMAS's ``scenario`` with ``kwargs``, as a :class:`~marlzoo.envs.batched.BatchedEnv`
    (the module docstring says what marlzoo adds to VMAS). ``seed`` seeds the env's random stream
    before VMAS builds it; ``env_id``, ``episode_limit``, ``reward_aggregation``, ``state``,
    ``scale_obs`` and ``time_limit`` mean what they mean for the other backends."""

    def __init__(self, scenario: str, n: int, kwargs: dict[str, Any] | None = None, env_id: str | None = None,
                 episode_limit: int | None = None, reward_aggregation: str = "sum", state: str = "auto",
                 scale_obs: bool = False, time_limit: str = "truncate", seed: int = 0) -> None:
        check_env_options(reward_aggregation, state)
        env_id = env_id or PREFIX + scenario
        if state == "env":
            raise UserError(f"env '{env_id}': VMAS scenarios have no global state; use env.state=auto or concat_obs "
                            "(the concatenated observations)")
        self.time_limit = check_time_limit(time_limit)
        options = dict(kwargs or {})
        reserved = [k for k in options if k in RESERVED_KWARGS]
        if reserved:
            raise UserError(f"env.kwargs.{reserved[0]} is set by marlzoo's VMAS backend itself; leave it out "
                            "(n_envs is the number of copies)")
        continuous = options.pop("continuous_actions", False)
        if not isinstance(continuous, bool):
            raise UserError(f"env.kwargs.continuous_actions must be true or false, not {continuous!r}")
        limits = [_positive_int(options.pop("max_steps"), "env.kwargs.max_steps")] if "max_steps" in options else []
        if episode_limit is not None:
            limits.append(_positive_int(episode_limit, "env.episode_limit"))
        self.limit = min(limits) if limits else DEFAULT_MAX_STEPS
        self.continuous = continuous
        self._mean_reward = reward_aggregation == "mean"
        seed = _check_seed(seed, env_id, 0)
        self._stream = _seeded_state(seed)
        self.env = self._make(scenario, n, options, env_id, seed)
        self.spec = self._make_spec(scenario, env_id, reward_aggregation, scale_obs)
        A, obs_dim = self.spec.n_agents, self.spec.obs_dim
        self.obs = np.zeros((n, A, obs_dim), dtype=np.float32)
        self.state = np.zeros((n, self.spec.state_dim), dtype=np.float32)
        self.avail = np.zeros((n, A, 1 if continuous else self.spec.n_actions), dtype=bool)
        self.alive = np.zeros((n, A), dtype=bool)
        self.reward = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)
        self.t = np.zeros(n, dtype=np.int64)
        self._static_avail = np.zeros(self.avail.shape[1:], dtype=bool)
        for i, size in enumerate(self.spec.action_sizes):
            self._static_avail[i, : 1 if continuous else size] = True

    # ------------------------------------------------------------------ building
    @contextlib.contextmanager
    def _own_stream(self) -> Iterator[None]:
        """VMAS's calls inside draw from this env's random stream (VMAS swaps the state it holds
        into the global generators around each call, and out again)."""
        from vmas.simulator.environment import Environment

        held = Environment.vmas_random_state  # the list VMAS's decorators read and write back
        outer = list(held)
        held[:] = self._stream
        try:
            yield
        finally:
            self._stream = list(held)
            held[:] = outer

    def _make(self, scenario: str, n: int, options: dict[str, Any], env_id: str, seed: int) -> Any:
        """VMAS's env of ``n`` copies, built in this env's stream; bad kwargs are one line."""
        vmas = _vmas()
        _positive_int(n, "the number of env copies")
        with self._own_stream(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                env = vmas.make_env(scenario, num_envs=n, device="cpu", continuous_actions=self.continuous,
                                    max_steps=None, seed=seed,
                                    clamp_actions=True, terminated_truncated=True, **options)
            except (TypeError, ValueError, AssertionError, KeyError) as exc:
                raise UserError(f"env '{env_id}' rejected its kwargs {reprlib.repr(options)}: "
                                f"{type(exc).__name__}: {exc}; check env.kwargs") from None
            except Exception as exc:
                raise EnvCodeError(env_id, "construction", exc) from exc
        unused = next((str(w.message) for w in caught if UNUSED_KWARGS in str(w.message)), None)
        if unused is not None:  # VMAS only warns, and would run the scenario without them
            extra = unused.partition("Scenario kwargs: ")[2].partition(UNUSED_KWARGS)[0].strip()
            raise UserError(f"env '{env_id}': VMAS's scenario '{scenario}' does not use env.kwargs {extra}; check "
                            f"their names (VMAS's vmas/scenarios/{scenario}.py lists what it takes)")
        return env

    def _make_spec(self, scenario: str, env_id: str, reward_aggregation: str, scale_obs: bool) -> EnvSpec:
        """The spec, from VMAS's spaces through marlzoo's codecs (observations padded to the widest)."""
        env, vmas = self.env, _vmas()
        agents = [agent.name for agent in env.agents]
        with self._own_stream():
            first = env.get_from_scenario(get_observations=True, get_rewards=False, get_infos=False,
                                          get_dones=False)[0]
        obs_codecs = []
        for name, value in zip(agents, first):
            if not isinstance(value, torch.Tensor) or value.dim() != 2:
                raise UserError(f"env '{env_id}': agent '{name}' observes {type(value).__name__} "
                                f"{getattr(value, 'shape', '')}, not one vector; marlzoo's VMAS backend takes "
                                "scenarios whose observations are vectors")
            box = spaces.Box(-np.float32(np.inf), np.float32(np.inf), (int(value.shape[1]),), np.float32)
            obs_codecs.append(observation_codec(box, env_id, name, scale_obs))
        act_codecs = [action_codec(_gymnasium_space(space), env_id, name)
                      for name, space in zip(agents, env.action_space.spaces)]
        obs_dim = max(c.size for c in obs_codecs)
        notes = [f"backend: {BACKEND} (VMAS {vmas.__version__}, scenario '{scenario}', batched in torch)"]
        if scenario in vmas.mpe_scenarios:
            notes.append(f"VMAS's own port of MPE's {scenario}, not mpe2: its physics, draws and rewards differ")
        notes.append("state: the concatenated observations (VMAS has no global state)")
        if self.continuous:
            notes.append("continuous actions are clamped into each agent's range (VMAS's clamp_actions)")
        return build_spec(
            None, env_id, agents, obs_codecs, act_codecs,
            obs_shape=(obs_dim,),
            state_dim=len(agents) * obs_dim,
            n_actions=max(c.size for c in act_codecs),
            episode_limit=self.limit,
            reward_aggregation=reward_aggregation,
            uses_env_state=False,
            turn_based=False,
            noop_action=None,
            transforms=notes,
            package=("vmas", vmas.__version__),
        )

    @property
    def n(self) -> int:
        """The number of copies."""
        return len(self.reward)

    # ------------------------------------------------------------------ resets
    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues the env's stream; see the module
        docstring for what a seed means here), and zero every copy's ``reward``, ``terminated`` and
        ``truncated``."""
        self.reset_where(np.ones(self.n, dtype=bool), list(seeds))

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        """Reset the copies where ``mask`` is true (see :class:`~marlzoo.envs.batched.BatchedEnv`):
        all of them without seeds in one VMAS reset, else each by ``reset_at``, after ``seed(s)``
        where it has a seed ``s``."""
        mask = check_reset_mask(mask, seeds, self.n)
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        chosen = [None if seeds is None else seeds[i] for i in rows]
        chosen = [None if s is None else _check_seed(s, self.spec.env_id, int(i)) for i, s in zip(rows, chosen)]
        env = self.env
        with self._own_stream():
            if rows.size == self.n and all(s is None for s in chosen):
                env.reset(return_observations=False)
            else:
                for i, seed in zip(rows, chosen):
                    if seed is not None:
                        env.seed(seed)
                    env.reset_at(int(i), return_observations=False)
            obs = env.get_from_scenario(get_observations=True, get_rewards=False, get_infos=False, get_dones=False)[0]
        self._write(obs, rows)
        self.t[rows] = 0
        self.avail[rows] = self._static_avail
        self.alive[rows] = True
        self.reward[rows] = 0.0
        self.terminated[rows] = False
        self.truncated[rows] = False
        check_rows_finite(self, mask, "reset", lambda i: int(self.t[i]))

    # ------------------------------------------------------------------ steps
    def _actions(self, actions: np.ndarray, active: np.ndarray) -> list[torch.Tensor]:
        """Each agent's actions for VMAS, zeros for the copies not stepped."""
        actions = np.array(actions, dtype=np.float32 if self.continuous else np.int64)  # a copy: rows are zeroed
        actions[~active] = 0
        if self.continuous:
            return [torch.from_numpy(np.ascontiguousarray(actions[:, i, :size]))
                    for i, size in enumerate(self.spec.action_sizes)]
        return [torch.from_numpy(np.ascontiguousarray(actions[:, i])) for i in range(self.spec.n_agents)]

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]``; the others keep
        their last arrays (VMAS moves them with zero actions: reset them before stepping them again)."""
        active = np.asarray(active, dtype=bool)
        if not active.any():
            return
        with self._own_stream():
            try:
                obs, rewards, terminated, _, _ = self.env.step(self._actions(actions, active))
                # one value per copy (some scenarios, such as wheel, give their rewards as [n, 1])
                rewards = torch.stack([r.reshape(self.n) for r in rewards], dim=1)
                terminated = terminated.reshape(self.n)
            except UserError:
                raise
            except Exception as exc:
                raise EnvCodeError(self.spec.env_id, f"step (step {int(self.t[active].max()) + 1} of an episode)",
                                   exc) from exc
        rows: Any = slice(None) if active.all() else np.flatnonzero(active)
        team = rewards.sum(dim=1)
        if self._mean_reward:
            team = team / self.spec.n_agents
        self._write(obs, rows)
        self.t[rows] += 1
        self.reward[rows] = team.numpy()[rows]
        self.terminated[rows] = terminated.numpy()[rows]
        self.truncated[rows] = (self.t[rows] >= self.limit) & ~self.terminated[rows]
        apply_time_limit(self, active, self.time_limit)
        check_rows_finite(self, active, "step", lambda i: int(self.t[i]))

    def _write(self, obs: Sequence[torch.Tensor], rows: Any) -> None:
        """The observations and states of the copies ``rows``, from VMAS's per-agent observations."""
        for i, value in enumerate(obs):
            self.obs[rows, i, : value.shape[1]] = value.numpy()[rows]
        self.state[rows] = self.obs[rows].reshape(-1, self.state.shape[1])

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A marker, not the copies' state (see the module docstring): a checkpoint still holds the
        networks for ``marlzoo eval``; :meth:`load_state_dict` refuses to resume from it."""
        return {"not_resumable": "its env copies are VMAS's, which keeps their state in its own torch objects"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Refused in one line: see :meth:`state_dict`."""
        why = state.get("not_resumable", "its env state was saved by another backend")
        raise UserError(f"this run cannot be resumed exactly: {why}, and marlzoo cannot save and restore them; "
                        "start it again (marlzoo eval still reads its checkpoint)")

    def close(self) -> None:
        """Close VMAS's viewer, if it drew."""
        viewer = getattr(self.env, "viewer", None)
        if viewer is not None:
            viewer.close()


def vmas_env(name: str, n: int, kwargs: dict[str, Any] | None = None, episode_limit: int | None = None,
             reward_aggregation: str = "sum", state: str = "auto", scale_obs: bool = False,
             time_limit: str = "truncate", seed: int = 0, backend: str = "auto",
             n_workers: int = 0) -> VmasEnv:
    """``n`` copies of VMAS env ``name`` (``vmas:<scenario>``); ``backend`` and ``n_workers`` are the
    config's, refused in one line unless they are ``auto`` or ``pettingzoo`` and 0 or 1 (a ``vmas:``
    name always runs on VMAS)."""
    if backend not in ("auto", "pettingzoo"):
        raise UserError(f"env '{name}' is a VMAS scenario, which always runs on VMAS; env.backend={backend} is for "
                        "mpe2's tasks, so leave env.backend at its default (auto) with a vmas: env")
    if n_workers > 1:
        raise UserError(f"env.n_workers is for env.backend=pettingzoo; VMAS steps every copy of '{name}' at once in "
                        "this process, so use env.n_workers=0 with it")
    return VmasEnv(_scenario(name), n, kwargs, env_id=name, episode_limit=episode_limit,
                   reward_aggregation=reward_aggregation, state=state, scale_obs=scale_obs, time_limit=time_limit,
                   seed=seed)
