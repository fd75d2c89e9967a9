"""The batched-env contract: one object steps ``n`` copies of an env, with arrays in and arrays out.

The runners (:mod:`marlzoo.training.runner`, :mod:`marlzoo.training.rollouts`) speak only this
contract. Its implementations: :class:`~marlzoo.envs.vector.VectorEnv` (adapters stepped in one
process, the ``pettingzoo`` backend) and :class:`~marlzoo.envs.mpe.MPEVectorEnv` (the ``vectorised``
backend, mpe2's tasks in numpy over the batch).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np

from marlzoo.envs.spec import EnvSpec
from marlzoo.errors import NonFiniteError, UserError


class BatchedEnv(Protocol):
    """``n`` copies of one env whose per-step arrays are rows of shared batch arrays.

    The arrays are public API. ``A`` is ``spec.n_agents``; row ``i`` belongs to copy ``i``:

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

    The arrays are made once and are never replaced: :meth:`reset`, :meth:`reset_where` and
    :meth:`step` rewrite them in place, so a caller may hold views of them (``venv.obs[i]``,
    ``torch.from_numpy(venv.obs)``), which always show the current values; copy what must outlive
    the next call. All are zeros until the first reset. A copy's ``obs``, ``state``, ``avail`` and
    ``alive`` rows are valid from its first reset on and hold the state it is in: after an episode
    ends they hold the final state reached (a truncated episode can be valued from it) until the
    copy is reset. Its ``reward``, ``terminated`` and ``truncated`` are those of its last step, and
    zeros right after it is reset. A copy that is not stepped or reset keeps all its rows.

    With ``time_limit="terminate"`` (``env.time_limit``) a step that cuts an episode short reports
    ``terminated`` instead of ``truncated`` (:func:`apply_time_limit`), so every learner treats the
    time limit as the end of the episode and does not bootstrap past it. Returns and episode
    lengths are the same either way.
    """

    spec: EnvSpec
    obs: np.ndarray
    state: np.ndarray
    avail: np.ndarray
    alive: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    @property
    def n(self) -> int:
        """The number of copies."""
        ...

    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues its own random stream), and zero
        every copy's ``reward``, ``terminated`` and ``truncated``."""
        ...

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        """Reset the copies where ``mask`` (bool, ``[n]``) is true and zero their ``reward``,
        ``terminated`` and ``truncated``; the other copies' rows are left as they are. ``seeds`` has
        one entry per copy (those of copies not reset are ignored); without it, or where an entry is
        None, a copy continues its own random stream."""
        ...

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]`` (``[A]`` indices, or
        ``[A, n_actions]`` floats for continuous agents); the others keep their last arrays."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to bring fresh copies to where these are, as tensors and plain
        containers (``torch.load(weights_only=True)`` reads it back)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Bring these (freshly built) copies to the states :meth:`state_dict` saved."""
        ...

    def close(self) -> None:
        """Release what the copies hold."""
        ...


TIME_LIMIT_RULES = ("truncate", "terminate")


def check_time_limit(rule: str) -> str:
    """``rule`` if it is one of :data:`TIME_LIMIT_RULES`, else a one-line :class:`UserError`."""
    if rule not in TIME_LIMIT_RULES:
        raise UserError(f"env.time_limit must be 'truncate' or 'terminate', not {rule!r}")
    return rule


def apply_time_limit(env: BatchedEnv, active: np.ndarray, rule: str) -> None:
    """After a step of the copies ``active``: under ``rule="terminate"``, those cut short by the
    time limit report ``terminated`` instead of ``truncated``."""
    if rule == "terminate":
        env.terminated |= env.truncated & active
        env.truncated &= ~active


def check_reset_mask(mask: np.ndarray, seeds: Sequence[int | None] | None, n: int) -> np.ndarray:
    """``mask`` as a bool array, after checking it and ``seeds`` fit ``n`` copies (a ValueError if not)."""
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(f"reset_where: mask must be a bool array of shape ({n},), "
                         f"not {mask.dtype} of shape {mask.shape}")
    if seeds is not None and len(seeds) != n:
        raise ValueError(f"reset_where: seeds must have one entry per copy ({n}), not {len(seeds)}")
    return mask


def check_rows_finite(env: BatchedEnv, copies: np.ndarray, phase: str, episode_step: Callable[[int], int]) -> None:
    """A :class:`NonFiniteError` naming the value, the copy, the agent and the episode step
    (``episode_step(i)`` for copy ``i``) if a copy just written holds a NaN or an infinity."""
    if np.isfinite(env.reward).all() and np.isfinite(env.obs).all() and np.isfinite(env.state).all():
        return  # every row: the copies not written this time hold values already checked
    spec, n = env.spec, len(env.reward)
    for name, values in (("reward", env.reward), ("observation", env.obs), ("state", env.state)):
        if np.isfinite(values[copies]).all():
            continue
        bad = ~np.isfinite(values.reshape(n, -1)).all(axis=1) & copies
        i = int(np.flatnonzero(bad)[0])
        where = f"at step {episode_step(i)} of an episode" if phase == "step" else "on reset"
        if name == "observation":
            agent = int(np.flatnonzero(~np.isfinite(env.obs[i].reshape(spec.n_agents, -1)).all(axis=1))[0])
            what = f"observation of agent '{spec.agents[agent]}'"
        else:
            what = f"{name} {float(values[i]) if name == 'reward' else ''}".rstrip()
        raise NonFiniteError(f"env '{spec.env_id}' returned a non-finite {what} {where} (copy {i}); "
                             "training cannot use it, so the run stopped: fix the env, or wrap it to clip its values")
