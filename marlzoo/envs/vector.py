"""Many copies of one env, stepped in one process, with their arrays stacked for one policy call."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from marlzoo.errors import EnvCodeError, NonFiniteError, UserError

from marlzoo.envs.adapter import Adapter


class VectorEnv:
    """``n`` adapters whose per-step arrays are rows of shared batch arrays.

    The shared arrays are public API. ``A`` is ``spec.n_agents``; row ``i`` belongs to copy
    ``envs[i]``, whose own arrays are views of it (:meth:`Adapter.bind`):

    ==============  ===============================  =======  ============================================
    array           shape                            dtype    holds, for each copy
    ==============  ===============================  =======  ============================================
    ``obs``         ``[n, A, *spec.obs_shape]``      float32  each agent's observation (zero-padded)
    ``state``       ``[n, spec.state_dim]``          float32  the global state
    ``avail``       ``[n, A, n_actions]``            bool     the actions each agent may take
                                                              (``n_actions`` is 1 for continuous agents)
    ``alive``       ``[n, A]``                       bool     whether each agent is in the episode
    ``reward``      ``[n]``                          float32  the team reward of the copy's last step
    ``terminated``  ``[n]``                          bool     whether that step ended the episode
    ``truncated``   ``[n]``                          bool     whether that step cut the episode short
    ==============  ===============================  =======  ============================================

    The arrays are made once, here, and are never replaced: :meth:`reset`, :meth:`reset_where` and
    :meth:`step` rewrite them in place, so a caller may hold views of them (``venv.obs[i]``,
    ``torch.from_numpy(venv.obs)``), which always show the current values; copy what must outlive
    the next call. All are zeros until the first reset. A copy's ``obs``, ``state``, ``avail`` and
    ``alive`` rows are valid from its first reset on and hold the state it is in: after an episode
    ends they hold the final state reached (a truncated episode can be valued from it) until the
    copy is reset. Its ``reward``, ``terminated`` and ``truncated`` are those of its last step, and
    zeros right after it is reset. A copy that is not stepped or reset keeps all its rows.

    With ``time_limit="terminate"`` (``env.time_limit``) a step that cuts an episode short reports
    ``terminated`` instead of ``truncated``, so every learner treats the time limit as the end of
    the episode and does not bootstrap past it. Returns and episode lengths are the same either way.
    """

    def __init__(self, make_env: Callable[[], Adapter], n: int, time_limit: str = "truncate") -> None:
        if time_limit not in ("truncate", "terminate"):
            raise UserError(f"env.time_limit must be 'truncate' or 'terminate', not {time_limit!r}")
        self.time_limit = time_limit
        self.envs = [make_env() for _ in range(n)]
        self.spec = self.envs[0].spec
        first = self.envs[0]
        self.obs = np.zeros((n, *first.obs.shape), dtype=np.float32)
        self.state = np.zeros((n, *first.state.shape), dtype=np.float32)
        self.avail = np.zeros((n, *first.avail.shape), dtype=bool)
        self.alive = np.zeros((n, *first.alive.shape), dtype=bool)
        self.reward = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)
        for i, env in enumerate(self.envs):
            env.bind(self.obs[i], self.state[i], self.avail[i], self.alive[i])

    @property
    def n(self) -> int:
        """The number of copies."""
        return len(self.envs)

    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues its own random stream), and zero
        every copy's ``reward``, ``terminated`` and ``truncated``."""
        for i, (env, seed) in enumerate(zip(self.envs, seeds)):
            self._call(i, "reset", env.reset, seed=seed)
        self.reward.fill(0.0)
        self.terminated.fill(False)
        self.truncated.fill(False)
        self._check_finite(np.ones(self.n, dtype=bool), "reset")

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        """Reset the copies where ``mask`` (bool, ``[n]``) is true and zero their ``reward``,
        ``terminated`` and ``truncated``; the other copies' rows are left as they are.

        ``seeds`` has one entry per copy (those of copies not reset are ignored). Without it, or
        where an entry is None, a copy continues its own random stream, exactly as
        ``venv.envs[i].reset()`` does.
        """
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.n,):
            raise ValueError(f"reset_where: mask must be a bool array of shape ({self.n},), "
                             f"not {mask.dtype} of shape {mask.shape}")
        if seeds is not None and len(seeds) != self.n:
            raise ValueError(f"reset_where: seeds must have one entry per copy ({self.n}), not {len(seeds)}")
        for i in np.flatnonzero(mask):
            self._call(i, "reset", self.envs[i].reset, seed=None if seeds is None else seeds[i])
        self.reward[mask] = 0.0
        self.terminated[mask] = False
        self.truncated[mask] = False
        self._check_finite(mask, "reset")

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]``; the others keep
        their last arrays."""
        for i in np.flatnonzero(active):
            self.reward[i], self.terminated[i], self.truncated[i] = self._call(i, "step", self.envs[i].step, actions[i])
        if self.time_limit == "terminate":
            self.terminated |= self.truncated & active
            self.truncated &= ~active
        self._check_finite(active, "step")

    def _call(self, i: int, phase: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` on copy ``i``; an exception from the env's own code becomes one
        line naming the env, the phase and the episode step (marlzoo's own errors pass as they are)."""
        try:
            return method(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:
            where = f"step (step {self.envs[i].t + 1} of an episode, copy {i})" if phase == "step" else f"reset (copy {i})"
            raise EnvCodeError(self.spec.env_id, where, exc) from exc

    def _check_finite(self, copies: np.ndarray, phase: str) -> None:
        """A :class:`NonFiniteError` naming the value, the copy, the agent and the episode step if
        a copy just written holds a NaN or an infinity."""
        if np.isfinite(self.reward).all() and np.isfinite(self.obs).all() and np.isfinite(self.state).all():
            return  # every row: the copies not written this time hold values already checked
        for name, values in (("reward", self.reward), ("observation", self.obs), ("state", self.state)):
            if np.isfinite(values[copies]).all():
                continue
            bad = ~np.isfinite(values.reshape(self.n, -1)).all(axis=1) & copies
            i = int(np.flatnonzero(bad)[0])
            env = self.envs[i]
            where = f"at step {env.t} of an episode" if phase == "step" else "on reset"
            if name == "observation":
                agent = int(np.flatnonzero(~np.isfinite(self.obs[i].reshape(self.spec.n_agents, -1)).all(axis=1))[0])
                what = f"observation of agent '{self.spec.agents[agent]}'"
            else:
                what = f"{name} {float(values[i]) if name == 'reward' else ''}".rstrip()
            raise NonFiniteError(f"env '{self.spec.env_id}' returned a non-finite {what} {where} (copy {i}); "
                                 "training cannot use it, so the run stopped: fix the env, or wrap it to clip its values")

    def close(self) -> None:
        """Close every copy."""
        for env in self.envs:
            env.close()
