"""The state of ``B`` MPE worlds as arrays, and mpe2's physics step over all of them at once.

mpe2's ``World.step`` (``mpe2/_mpe_utils/core.py``) for the worlds of simple_spread,
simple_speaker_listener and simple_reference, where no landmark moves or collides, no agent has
motor or communication noise, a maximum speed or its own acceleration, and every mass is 1:

* the force on a movable agent is its action ``u`` plus, for each other colliding agent ``j`` in
  order, the contact force ``contact_force * (p_k - p_j) / dist * penetration``, with
  ``penetration = logaddexp(0, -(dist - dist_min) / margin) * margin`` (a softplus of the overlap);
* then ``p += v * dt``, ``v = v * (1 - damping)``, ``v += (force / mass) * dt``;
* then each agent's utterance is its communication action (zeros for silent agents).

Every operation is done in float64, in mpe2's order, so the results are those of mpe2 to the bit
(the pairwise forces are summed per agent in the order mpe2's pair loop adds them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DT = 0.1
DAMPING = 0.25
CONTACT_FORCE = 1e2
CONTACT_MARGIN = 1e-3
MASS = 1.0


@dataclass
class Worlds:
    """``B`` worlds: agents' positions, velocities and utterances, landmarks' positions, goals."""

    pos: np.ndarray  # [B, A, 2] float64
    vel: np.ndarray  # [B, A, 2] float64
    comm: np.ndarray  # [B, A, dim_c] float64
    landmarks: np.ndarray  # [B, L, 2] float64
    goals: np.ndarray  # [B, G] int64: the scenario's goal landmarks

    @classmethod
    def zeros(cls, n: int, agents: int, landmarks: int, dim_c: int, goals: int) -> "Worlds":
        return cls(np.zeros((n, agents, 2)), np.zeros((n, agents, 2)), np.zeros((n, agents, dim_c)),
                   np.zeros((n, landmarks, 2)), np.zeros((n, goals), dtype=np.int64))


def distances(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``delta[b, k, j] = pos[b, k] - pos[b, j]`` and its Euclidean length ``dist[b, k, j]``."""
    delta = pos[:, :, None, :] - pos[:, None, :, :]
    square = np.square(delta)
    return delta, np.sqrt(square[..., 0] + square[..., 1])


def contact_forces(pos: np.ndarray, size: float) -> np.ndarray:
    """``[B, A, A, 2]``: the contact force on agent ``k`` from agent ``j`` (zero for ``j == k``), for
    agents of radius ``size`` that all collide."""
    delta, dist = distances(pos)
    k = CONTACT_MARGIN
    penetration = np.logaddexp(0, -(dist - (size + size)) / k) * k
    dist = dist + np.eye(pos.shape[1])  # the diagonal's delta is 0: its force is 0, not 0 / 0
    return CONTACT_FORCE * delta / dist[..., None] * penetration[..., None]


def integrate(pos: np.ndarray, vel: np.ndarray, force: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions and velocities after one step under ``force`` (all ``[b, m, 2]``)."""
    new_pos = pos + vel * DT
    new_vel = vel * (1 - DAMPING)
    new_vel = new_vel + (force / MASS) * DT
    return new_pos, new_vel


def physics_step(pos: np.ndarray, vel: np.ndarray, u: np.ndarray, movable: np.ndarray,
                 collide_size: float | None) -> tuple[np.ndarray, np.ndarray]:
    """mpe2's ``World.step`` on these agents: ``u [b, A, 2]`` their action forces, ``movable`` the
    indices of the agents that move, ``collide_size`` the radius of agents that collide (None: none do)."""
    force = u + 0.0  # mpe2 adds the (zero) motor noise
    if collide_size is not None:
        pair = contact_forces(pos, collide_size)
        for j in range(pos.shape[1]):
            force = pair[:, :, j] + force
    if len(movable) == pos.shape[1]:
        return integrate(pos, vel, force)
    new_pos, new_vel = pos.copy(), vel.copy()
    new_pos[:, movable], new_vel[:, movable] = integrate(pos[:, movable], vel[:, movable], force[:, movable])
    return new_pos, new_vel
