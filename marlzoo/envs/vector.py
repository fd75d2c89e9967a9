"""Many copies of one env, stepped in one process, with their arrays stacked for one policy call."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from marlzoo.errors import EnvCodeError, UserError

from marlzoo.envs.adapter import Adapter
from marlzoo.envs.batched import apply_time_limit, check_reset_mask, check_rows_finite, check_time_limit
from marlzoo.rngstate import generator_paths, object_rng_state, set_object_rng_state


def env_code_error(env_id: str, phase: str, i: int, t: int, exc: BaseException) -> EnvCodeError:
    """The one line for ``exc``, raised by copy ``i``'s env code in ``phase`` (``reset`` or ``step``)
    at episode step ``t`` (the steps it had taken)."""
    where = f"step (step {t + 1} of an episode, copy {i})" if phase == "step" else f"reset (copy {i})"
    return EnvCodeError(env_id, where, exc)


class VectorEnv:
    """``n`` adapters whose per-step arrays are rows of shared batch arrays: the
    :class:`~marlzoo.envs.batched.BatchedEnv` contract (which describes the arrays), for any env an
    adapter runs. Copy ``envs[i]`` writes into row ``i`` through views of it (:meth:`Adapter.bind`).

    For checkpoints, each copy remembers how it reached its current state: how its last reset was
    made (the seed, or the state of its random generators just before an unseeded reset) and the
    actions it took since. :meth:`state_dict` saves that; :meth:`load_state_dict` resets a fresh
    copy the same way and replays the actions, so a copy stopped mid-episode continues exactly.
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
        self._origins: list[dict[str, Any] | None] = [None] * n  # how each copy's last reset was made
        self._trails: list[list[np.ndarray]] = [[] for _ in range(n)]  # its actions since
        self._rng_paths: list[list[tuple] | None] = [None] * n  # where each copy keeps its random generators

    @property
    def n(self) -> int:
        """The number of copies."""
        return len(self.envs)

    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues its own random stream), and zero
        every copy's ``reward``, ``terminated`` and ``truncated``."""
        for i, (env, seed) in enumerate(zip(self.envs, seeds)):
            self._reset_copy(i, seed)
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
            self._reset_copy(i, None if seeds is None else seeds[i])
        self.reward[mask] = 0.0
        self.terminated[mask] = False
        self.truncated[mask] = False
        self._check_finite(mask, "reset")

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]``; the others keep
        their last arrays."""
        for i in np.flatnonzero(active):
            self.reward[i], self.terminated[i], self.truncated[i] = self._call(i, "step", self.envs[i].step, actions[i])
            self._trails[i].append(np.array(actions[i]))
        apply_time_limit(self, active, self.time_limit)
        self._check_finite(active, "step")

    def _reset_copy(self, i: int, seed: int | None) -> None:
        env = self.envs[i]
        if seed is not None:
            self._origins[i] = {"seed": int(seed)}
        else:  # the generators found once per copy are read directly: a search costs as much as a reset
            rng = object_rng_state(env, self._rng_paths[i]) if self._rng_paths[i] is not None else None
            if rng is None:
                self._rng_paths[i] = generator_paths(env)
                rng = object_rng_state(env, self._rng_paths[i])
            self._origins[i] = {"rng": rng}
        self._trails[i] = []
        self._call(i, "reset", env.reset, seed=seed)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """How every copy reached its current state, as tensors and plain containers (see the class
        docstring), with its arrays and generator states now, which :meth:`load_state_dict` checks."""
        copies = []
        for i, env in enumerate(self.envs):
            if self._origins[i] is None:
                copies.append(None)
                continue
            trail = self._trails[i]
            copies.append({
                "origin": self._origins[i],
                "actions": [torch.from_numpy(a) for a in trail],
                "rng": object_rng_state(env),
                "obs": torch.from_numpy(self.obs[i].copy()),
            })
        return {"copies": copies, "reward": torch.from_numpy(self.reward.copy()),
                "terminated": torch.from_numpy(self.terminated.copy()),
                "truncated": torch.from_numpy(self.truncated.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Bring freshly built copies to the states :meth:`state_dict` saved: reset each as it was
        last reset and replay its actions since. Raises ``ValueError`` where a copy does not end
        where it was saved (an env whose randomness lives outside the generators it holds)."""
        if len(state["copies"]) != self.n:
            raise ValueError(f"{len(state['copies'])} env copies saved, but this run has {self.n}")
        for i, saved in enumerate(state["copies"]):
            if saved is None:
                continue
            env, origin = self.envs[i], saved["origin"]
            if "rng" in origin:
                set_object_rng_state(env, origin["rng"], exact=False)  # the check below is exact
            self._reset_copy(i, origin.get("seed"))
            for action in saved["actions"]:
                self._call(i, "step", env.step, action.numpy())
                self._trails[i].append(action.numpy().copy())
            if not np.array_equal(self.obs[i], saved["obs"].numpy()) or _differ(object_rng_state(env), saved["rng"]):
                raise ValueError(f"env copy {i} did not replay to the state it was saved in: its randomness is not "
                                 "all in generators it holds, or the env changed")
        self.reward[:] = state["reward"].numpy()
        self.terminated[:] = state["terminated"].numpy()
        self.truncated[:] = state["truncated"].numpy()

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


def _differ(a: Any, b: Any) -> bool:
    """Whether two generator states (nested plain containers and tensors) differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() != b.keys() or any(_differ(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(_differ(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return not torch.equal(a, b)
    return a != b
