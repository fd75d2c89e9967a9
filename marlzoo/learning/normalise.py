"""Running mean and standard deviation, for standardising rewards or value targets."""

from __future__ import annotations

import torch


class RunningMeanStd:
    """Mean and variance of everything seen so far (parallel-merge update of Chan et al.)."""

    def __init__(self, epsilon: float = 1e-4) -> None:
        self.mean = torch.zeros(())
        self.var = torch.ones(())
        self.count = torch.tensor(epsilon)

    def update(self, values: torch.Tensor) -> None:
        values = values.detach().reshape(-1).float()
        if values.numel() == 0:
            return
        batch_mean, batch_var, n = values.mean(), values.var(unbiased=False), values.numel()
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total
        self.var = m2 / total
        self.count = total

    @property
    def std(self) -> torch.Tensor:
        return self.var.clamp_min(1e-8).sqrt()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class RewardStandardiser:
    """A replay learner's team rewards as ``(r - mean) / std``, by running statistics.

    ``counted`` says which rewards the statistics take in:

    * ``"sampled"``: the real steps of every batch sampled for an update, just before it is
      standardised (EPyMARL's learners). A reward counts again each time its episode is replayed,
      so old episodes, replayed more often, weigh more than new ones.
    * ``"inserted"``: every real step once, when its episode enters the replay buffer
      (:meth:`observe`): the statistics are those of all the rewards collected so far.
    """

    def __init__(self, counted: str = "sampled") -> None:
        if counted not in ("sampled", "inserted"):
            raise ValueError(f"reward statistics count 'sampled' or 'inserted' rewards, not '{counted}'")
        self.counted = counted
        self.stats = RunningMeanStd()

    def observe(self, reward: torch.Tensor, filled: torch.Tensor) -> None:
        """Take in the rewards of episodes entering the buffer (counted only under ``"inserted"``)."""
        if self.counted == "inserted":
            self.stats.update(reward[filled])

    def __call__(self, reward: torch.Tensor, filled: torch.Tensor) -> torch.Tensor:
        """A sampled batch's rewards ``[B, T]``, standardised (``filled`` marks its real steps)."""
        if self.counted == "sampled":
            self.stats.update(reward[filled])
        return (reward - self.stats.mean) / self.stats.std

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.stats.load_state_dict(state)
