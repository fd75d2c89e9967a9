"""How experience is gathered and learned from, one iteration at a time, per kind of buffer.

The trainer picks the loop by the algorithm's declared ``buffer`` kind (never by its name):
  ``episodes``  one episode per env copy goes into the replay buffer, then one ``learn`` per episode.
  ``rollouts``  a fixed-length rollout of every copy (auto-reset), then one ``learn`` on it.
Other kinds register here with :func:`register_loop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError
from marlzoo.training.rollouts import RolloutRunner
from marlzoo.training.runner import EpisodeRunner

if TYPE_CHECKING:
    from marlzoo.algorithm import Algorithm


@dataclass
class Collected:
    """One iteration's outcome: env steps taken, the episodes that finished, and learn() metrics."""

    steps: int
    returns: np.ndarray
    lengths: np.ndarray
    learn_metrics: list[dict[str, float]]


class EpisodeLoop:
    """Off-policy learning from whole episodes (value-based algorithms, MADDPG, ...)."""

    def __init__(self, algo: "Algorithm", venv: VectorEnv, seed: int) -> None:
        self.algo = algo
        self.runner = EpisodeRunner(venv, seed)
        self.buffer = algo.make_buffer()

    def iterate(self, t_env: int) -> Collected:
        batch, stats = self.runner.run(self.algo, explore=True, t_env=t_env)
        self.buffer.insert(batch)
        t_after = t_env + stats.steps
        metrics = [self.algo.learn(self.buffer, t_after) for _ in range(len(stats.returns))]
        return Collected(stats.steps, stats.returns, stats.lengths, metrics)

    def finish(self) -> list[dict[str, float]]:
        """Learning still in flight (none: this loop learns before it returns)."""
        return []

    def close(self) -> None:
        pass


class RolloutLoop:
    """On-policy learning (MAPPO, ...): ``rollout_length`` steps of every copy, then one ``learn``.

    Episodes run on across rollouts; the returns reported are those of the episodes that ended.
    """

    def __init__(self, algo: "Algorithm", venv: VectorEnv, seed: int) -> None:
        self.algo = algo
        self.runner = RolloutRunner(venv, seed)
        self.buffer = algo.make_buffer()

    def iterate(self, t_env: int) -> Collected:
        returns, lengths = self.runner.collect(self.algo, self.buffer, t_env)
        steps = self.buffer.length * self.runner.venv.n
        return Collected(steps, returns, lengths, [self.algo.learn(self.buffer, t_env + steps)])

    def finish(self) -> list[dict[str, float]]:
        return []

    def close(self) -> None:
        pass


LoopFactory = Callable[["Algorithm", VectorEnv, int], object]
LOOPS: dict[str, LoopFactory] = {"episodes": EpisodeLoop, "rollouts": RolloutLoop}


def register_loop(buffer_kind: str, factory: LoopFactory) -> None:
    """Make ``buffer_kind`` available to algorithms (the factory takes ``(algo, venv, seed)``)."""
    LOOPS[buffer_kind] = factory


def make_loop(algo: "Algorithm", venv: VectorEnv, seed: int, algo_name: str, learner: str = "inline",
              threads: int = 1):
    """The loop for ``algo``'s buffer kind; ``learner="process"`` moves an ``episodes`` loop's learning
    to a second process (:mod:`marlzoo.training.learner_process`)."""
    kind = type(algo).buffer
    if kind not in LOOPS:
        raise UserError(
            f"algorithm '{algo_name}' declares buffer '{kind}', but marlzoo knows only {sorted(LOOPS)}"
        )
    if learner == "process":
        if kind != "episodes":
            raise UserError(
                f"learner=process overlaps collection with replay learning; '{algo_name}' learns from its own "
                f"'{kind}' and needs learner=inline"
            )
        from marlzoo.training.learner_process import ProcessLearnerLoop

        return ProcessLearnerLoop(algo, venv, seed, algo_name, threads)
    return LOOPS[kind](algo, venv, seed)
