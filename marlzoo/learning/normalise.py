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
