"""How experience is gathered and learned from, one iteration at a time; the algorithm's base picks the loop.

  :class:`ReplayLoop`   for a :class:`~marlzoo.algorithm.ReplayAlgorithm`: one episode per env copy
                        into the replay buffer, then ``learn(buffer, t_env, n_updates)`` with the
                        updates the :class:`UpdateSchedule` grants for those episodes.
  :class:`RolloutLoop`  for a :class:`~marlzoo.algorithm.RolloutAlgorithm`: a fixed-length rollout
                        of every copy (auto-reset), then one ``learn`` on it.
``learner=process`` moves a replay loop's learning to a second process
(:class:`~marlzoo.training.learner_process.ProcessLearnerLoop`).
"""

from __future__ import annotations

from typing import Any, Protocol

from marlzoo.algorithm import ReplayAlgorithm, RolloutAlgorithm
from marlzoo.envs.batched import BatchedEnv
from marlzoo.errors import UserError
from marlzoo.training.buffers import buffer_state, load_buffer_state
from marlzoo.training.guards import check_finite
from marlzoo.training.learner_process import ProcessLearnerLoop
from marlzoo.training.rollouts import RolloutRunner
from marlzoo.training.runner import Collected, EpisodeRunner
from marlzoo.training.schedule import UpdateSchedule


class Loop(Protocol):
    """What the trainer drives: ``iterate`` once per collection, ``finish`` before the end, ``close``;
    ``budget_note`` once at the start."""

    def budget_note(self, steps: int) -> str | None:
        """One line saying why a run of ``steps`` env steps will take more, if it surely will."""
        ...

    def iterate(self, t_env: int) -> Collected: ...

    def finish(self) -> list[dict[str, float]]: ...

    def state_dict(self, with_buffer: bool = True) -> dict[str, Any]:
        """What the loop needs to go on exactly after a checkpoint (the replay buffer only if
        ``with_buffer``), as tensors and plain containers."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ReplayLoop:
    """Off-policy learning from whole episodes (value-based algorithms, MADDPG, ...)."""

    def __init__(self, algo: ReplayAlgorithm, venv: BatchedEnv, seed: int) -> None:
        self.algo = algo
        self.runner = EpisodeRunner(venv, seed)
        self.buffer = algo.make_buffer()
        self.schedule = UpdateSchedule(algo.updates_per_episode)

    def budget_note(self, steps: int) -> str | None:
        """None: episodes end when they end, so the last collection's overshoot is not known ahead."""
        return None

    def iterate(self, t_env: int) -> Collected:
        batch, stats = self.runner.run(self.algo, explore=True, t_env=t_env)
        self.buffer.insert(batch)
        n_updates = self.schedule.updates_for(len(stats.returns))
        metrics = self.algo.learn(self.buffer, t_env + stats.steps, n_updates) if n_updates else []
        return Collected(stats.steps, stats.returns, stats.lengths, check_finite(metrics, type(self.algo).__name__, t_env))

    def finish(self) -> list[dict[str, float]]:
        """Learning still in flight (none: this loop learns before it returns)."""
        return []

    def state_dict(self, with_buffer: bool = True) -> dict[str, Any]:
        """The runner's env copies (at an episode boundary), the schedule's carry and the buffer."""
        return {"runner": self.runner.state_dict(), "schedule": self.schedule.state_dict(),
                "buffer": buffer_state(self.buffer, with_buffer)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.runner.load_state_dict(state["runner"])
        self.schedule.load_state_dict(state["schedule"])
        load_buffer_state(self.buffer, state["buffer"])

    def close(self) -> None:
        pass


class RolloutLoop:
    """On-policy learning (MAPPO, ...): ``rollout_length`` steps of every copy, then one ``learn``.

    Episodes run on across rollouts; the returns reported are those of the episodes that ended.
    """

    def __init__(self, algo: RolloutAlgorithm, venv: BatchedEnv, seed: int) -> None:
        self.algo = algo
        self.runner = RolloutRunner(venv, seed)
        self.buffer = algo.make_buffer()

    @property
    def steps_per_iteration(self) -> int:
        return self.buffer.length * self.runner.venv.n

    def budget_note(self, steps: int) -> str | None:
        """The run ends after the rollout that reaches ``steps``: say so when that is past ``steps``."""
        per = self.steps_per_iteration
        total = -(-steps // per) * per
        if total == steps:
            return None
        return (f"This run takes {total:,} env steps, not {steps:,}: it learns from whole rollouts of {per:,} env "
                f"steps ({self.buffer.length} steps x {self.runner.venv.n} env copies); for exactly {steps:,}, "
                f"make --steps a multiple of {per:,}")

    def iterate(self, t_env: int) -> Collected:
        returns, lengths = self.runner.collect(self.algo, self.buffer, t_env)
        steps = self.steps_per_iteration
        metrics = [self.algo.learn(self.buffer, t_env + steps)]
        return Collected(steps, returns, lengths, check_finite(metrics, type(self.algo).__name__, t_env))

    def finish(self) -> list[dict[str, float]]:
        return []

    def state_dict(self, with_buffer: bool = True) -> dict[str, Any]:
        """The runner's copies mid-episode (the rollout buffer is refilled before each learn)."""
        return {"runner": self.runner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.runner.load_state_dict(state["runner"])

    def close(self) -> None:
        pass


def make_loop(algo: ReplayAlgorithm | RolloutAlgorithm, venv: BatchedEnv, seed: int, algo_name: str,
              learner: str = "inline", threads: int = 1) -> Loop:
    """The loop for ``algo``'s base; ``learner="process"`` moves a replay loop's learning to a second
    process (:mod:`marlzoo.training.learner_process`)."""
    if isinstance(algo, RolloutAlgorithm):
        if learner == "process":
            raise UserError(
                f"learner=process overlaps collection with replay learning; '{algo_name}' learns on-policy from "
                "its own rollouts and needs learner=inline"
            )
        return RolloutLoop(algo, venv, seed)
    if learner == "process":
        return ProcessLearnerLoop(algo, venv, seed, algo_name, threads)
    return ReplayLoop(algo, venv, seed)
