"""mpe2's simple_spread, simple_speaker_listener and simple_reference, batched over copies.

Each :class:`Scenario` is the scenario file of mpe2 1.1.x of the same name
(``mpe2/<name>/<name>.py``) written over arrays: its world (agents, landmarks, who moves, who
speaks, who collides), the random draws of ``reset_world`` (made per copy, with the copy's own
generator, in mpe2's order), each agent's observation (in mpe2's order of parts) and each agent's
reward. The kwargs each scenario takes are those of mpe2's ``raw_env`` that change what an agent
sees or gets; the others are named in ``refused``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from marlzoo.envs.mpe.world import Worlds, distances

MOVES = 5  # mpe2's movement actions: no-op, left, right, down, up
MOVE_FORCE = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
SENSITIVITY = 5.0  # an agent's acceleration when it sets none
# What mpe2's raw_env takes that changes nothing an agent sees or gets.
DRAWING = ("dynamic_rescaling",)


class Scenario(ABC):
    """One task's world and rules. Subclasses set the class attributes and the three methods."""

    name: ClassVar[str]
    dim_c: ClassVar[int]
    n_landmarks: int
    n_goals: ClassVar[int] = 0
    kwargs: ClassVar[dict[str, Any]]  # the kwargs it takes, with mpe2's defaults
    refused: ClassVar[tuple[str, ...]]  # mpe2 kwargs it does not implement

    def __init__(self) -> None:
        self.agents: tuple[str, ...] = ()
        self.movable: tuple[bool, ...] = ()
        self.silent: tuple[bool, ...] = ()
        self.collide_size: float | None = None  # the agents' radius if they collide, else None

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @abstractmethod
    def obs_sizes(self) -> list[int]:
        """Each agent's observation length."""
        raise NotImplementedError

    @abstractmethod
    def draw(self, rng: np.random.Generator, worlds: Worlds, i: int) -> None:
        """``reset_world`` of copy ``i``: its goals and positions, drawn from ``rng`` as mpe2 draws them."""
        raise NotImplementedError

    @abstractmethod
    def observe(self, worlds: Worlds, rows: Any, obs: np.ndarray) -> None:
        """Write each agent's observation of the worlds ``rows`` into ``obs[rows]`` (zeros beyond it)."""
        raise NotImplementedError

    @abstractmethod
    def rewards(self, worlds: Worlds, rows: Any) -> np.ndarray:
        """``[b, A]`` float64: each agent's reward in the worlds ``rows``, as mpe2's env gives it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared by the scenarios
    def _draw_positions(self, rng: np.random.Generator, worlds: Worlds, i: int) -> None:
        """Every agent's position, then every landmark's: ``uniform(-1, 1, 2)`` each, in order."""
        drawn = rng.uniform(-1, +1, (self.n_agents + self.n_landmarks, 2))
        worlds.pos[i] = drawn[: self.n_agents]
        worlds.landmarks[i] = drawn[self.n_agents:]
        worlds.vel[i] = 0.0
        worlds.comm[i] = 0.0

    @staticmethod
    def _relative(points: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """``points [b, P, 2]`` relative to ``origin [b, 2]``, flattened to ``[b, 2P]``."""
        return (points - origin[:, None, :]).reshape(len(points), -1)


class SimpleSpread(Scenario):
    """N agents cover N landmarks: a shared reward for coverage, a local one for collisions."""

    name = "simple_spread"
    dim_c = 2
    kwargs = {"N": 3, "local_ratio": 0.5}
    refused = ("curriculum", "terminate_on_success", "num_agent_neighbors", "num_landmark_neighbors")
    AGENT_SIZE = 0.15

    def __init__(self, N: int = 3, local_ratio: float = 0.5) -> None:
        super().__init__()
        self.agents = tuple(f"agent_{i}" for i in range(N))
        self.movable = (True,) * N
        self.silent = (True,) * N
        self.collide_size = self.AGENT_SIZE
        self.n_landmarks = N
        self.local_ratio = local_ratio
        self._others = np.array([[o for o in range(N) if o != i] for i in range(N)]).reshape(N, max(N - 1, 0))

    def obs_sizes(self) -> list[int]:
        n = self.n_agents
        return [2 + 2 + 2 * n + 2 * (n - 1) + self.dim_c * (n - 1)] * n

    def draw(self, rng, worlds, i):
        self._draw_positions(rng, worlds, i)

    def observe(self, worlds, rows, obs):
        n, L = self.n_agents, self.n_landmarks
        pos, vel, comm = worlds.pos[rows], worlds.vel[rows], worlds.comm[rows]
        b = len(pos)
        others = self._others
        to_landmarks = worlds.landmarks[rows][:, None, :, :] - pos[:, :, None, :]
        to_agents = pos[:, None, :, :] - pos[:, :, None, :]
        parts = [vel, pos, to_landmarks.reshape(b, n, 2 * L),
                 to_agents[:, np.arange(n)[:, None], others].reshape(b, n, 2 * (n - 1)),
                 comm[:, others].reshape(b, n, self.dim_c * (n - 1))]
        obs[rows] = np.concatenate(parts, axis=-1)

    def rewards(self, worlds, rows):
        pos, landmarks = worlds.pos[rows], worlds.landmarks[rows]
        to_landmark = pos[:, :, None, :] - landmarks[:, None, :, :]  # [b, agent, landmark, 2]
        square = np.square(to_landmark)
        nearest = np.sqrt(square[..., 0] + square[..., 1]).min(axis=1)  # [b, landmark]
        coverage = np.zeros(len(pos))
        for landmark in range(self.n_landmarks):
            coverage = coverage - nearest[:, landmark]
        _, dist = distances(pos)
        collisions = dist < self.AGENT_SIZE + self.AGENT_SIZE
        collisions[:, np.arange(self.n_agents), np.arange(self.n_agents)] = False
        local = -collisions.sum(axis=2).astype(np.float64)
        return coverage[:, None] * (1 - self.local_ratio) + local * self.local_ratio


class SimpleSpeakerListener(Scenario):
    """A speaker that cannot move says which of 3 landmarks a listener must reach."""

    name = "simple_speaker_listener"
    dim_c = 3
    n_landmarks = 3
    n_goals = 1
    kwargs: ClassVar[dict[str, Any]] = {}
    refused = ()
    COLORS = np.array([[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]])

    def __init__(self) -> None:
        super().__init__()
        self.agents = ("speaker_0", "listener_0")
        self.movable = (False, True)
        self.silent = (False, True)

    def obs_sizes(self) -> list[int]:
        return [3, 2 + 2 * self.n_landmarks + self.dim_c]

    def draw(self, rng, worlds, i):
        worlds.goals[i, 0] = int(rng.integers(self.n_landmarks))
        self._draw_positions(rng, worlds, i)

    def observe(self, worlds, rows, obs):
        listener = worlds.pos[rows][:, 1]
        obs[rows, 0, :3] = self.COLORS[worlds.goals[rows, 0]]
        obs[rows, 1] = np.concatenate([worlds.vel[rows][:, 1], self._relative(worlds.landmarks[rows], listener),
                                       worlds.comm[rows][:, 0]], axis=-1)

    def rewards(self, worlds, rows):
        goal = worlds.landmarks[rows][np.arange(len(worlds.goals[rows])), worlds.goals[rows, 0]]
        square = np.square(worlds.pos[rows][:, 1] - goal)
        reward = -(square[:, 0] + square[:, 1])
        return np.stack([reward, reward], axis=1)


class SimpleReference(Scenario):
    """Two agents, each of which must get the other to its own goal landmark, by speaking."""

    name = "simple_reference"
    dim_c = 10
    n_landmarks = 3
    n_goals = 2
    kwargs = {"local_ratio": 0.5}
    refused = ()
    COLORS = np.array([[0.75, 0.25, 0.25], [0.25, 0.75, 0.25], [0.25, 0.25, 0.75]])

    def __init__(self, local_ratio: float = 0.5) -> None:
        super().__init__()
        self.agents = ("agent_0", "agent_1")
        self.movable = (True, True)
        self.silent = (False, False)
        self.local_ratio = local_ratio

    def obs_sizes(self) -> list[int]:
        return [2 + 2 * self.n_landmarks + 3 + self.dim_c] * 2

    def draw(self, rng, worlds, i):
        worlds.goals[i, 0] = int(rng.integers(self.n_landmarks))
        worlds.goals[i, 1] = int(rng.integers(self.n_landmarks))
        self._draw_positions(rng, worlds, i)

    def observe(self, worlds, rows, obs):
        pos, vel, comm, landmarks, goals = (worlds.pos[rows], worlds.vel[rows], worlds.comm[rows],
                                            worlds.landmarks[rows], worlds.goals[rows])
        for agent, other in ((0, 1), (1, 0)):
            obs[rows, agent] = np.concatenate([vel[:, agent], self._relative(landmarks, pos[:, agent]),
                                               self.COLORS[goals[:, agent]], comm[:, other]], axis=-1)

    def rewards(self, worlds, rows):
        pos, landmarks, goals = worlds.pos[rows], worlds.landmarks[rows], worlds.goals[rows]
        copies = np.arange(len(pos))
        own = []
        for agent, other in ((0, 1), (1, 0)):  # the other agent's distance to this agent's goal
            square = np.square(pos[:, other] - landmarks[copies, goals[:, agent]])
            own.append(-np.sqrt(square[:, 0] + square[:, 1]))
        shared = (0 + own[0] + own[1]) / 2
        return np.stack([shared * (1 - self.local_ratio) + r * self.local_ratio for r in own], axis=1)


SCENARIOS: dict[str, type[Scenario]] = {s.name: s for s in (SimpleSpread, SimpleSpeakerListener, SimpleReference)}
# The catalogue target of each mpe2 task (marlzoo.envs.catalogue.BUILTIN_ENVS) it replaces.
TARGETS = {
    "mpe2.simple_spread_v3:parallel_env": "simple_spread",
    "mpe2.simple_speaker_listener_v4:parallel_env": "simple_speaker_listener",
    "mpe2.simple_reference_v3:parallel_env": "simple_reference",
}
