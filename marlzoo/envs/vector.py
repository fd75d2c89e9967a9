"""Many copies of one env, stepped in one process, with their arrays stacked for one policy call."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from marlzoo.errors import EnvCodeError, UserError

from marlzoo.envs.adapter import Adapter
from marlzoo.envs.batched import apply_time_limit, check_reset_mask, check_rows_finite, check_time_limit


def env_code_error(env_id: str, phase: str, i: int, t: int, exc: BaseException) -> EnvCodeError:
    """The one line for ``exc``, raised by copy ``i``'s env code in ``phase`` (``reset`` or ``step``)
    at episode step ``t`` (the steps it had taken)."""
    where = f"step (step {t + 1} of an episode, copy {i})" if phase == "step" else f"reset (copy {i})"
    return EnvCodeError(env_id, where, exc)


class VectorEnv:
    """``n`` adapters whose per-step arrays are rows of shared batch arrays: the
    :class:`~marlzoo.envs.batched.BatchedEnv` contract (which describes the arrays), for any env an
    adapter runs. Copy ``envs[i]`` writes into row ``i`` through views of it (:meth:`Adapter.bind`).
    """

    def __init__(self, make_env: Callable[[], Adapter], n: int, time_limit: str = "truncate") -> None:
        self.time_limit = check_time_limit(time_limit)
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
        mask = check_reset_mask(mask, seeds, self.n)
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
        apply_time_limit(self, active, self.time_limit)
        self._check_finite(active, "step")

    def _call(self, i: int, phase: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` on copy ``i``; an exception from the env's own code becomes one
        line naming the env, the phase and the episode step (marlzoo's own errors pass as they are)."""
        try:
            return method(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:
            raise env_code_error(self.spec.env_id, phase, i, self.envs[i].t, exc) from exc

    def _check_finite(self, copies: np.ndarray, phase: str) -> None:
        check_rows_finite(self, copies, phase, lambda i: self.envs[i].t)

    def close(self) -> None:
        """Close every copy."""
        for env in self.envs:
            env.close()
