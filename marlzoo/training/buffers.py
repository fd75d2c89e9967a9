"""Preallocated tensor storage for experience.

An :class:`EpisodeBatch` holds whole episodes, time-major within each episode:
  obs      [B, T+1, n_agents, obs_dim]   obs[:, t+1] is what follows the action at t
  state    [B, T+1, state_dim]
  avail    [B, T+1, n_agents, n_actions] bool
  alive    [B, T+1, n_agents]            bool
  actions  [B, T, n_agents] long, or [B, T, n_agents, action_dim] float
  reward   [B, T]                        the team reward
  terminated [B, T]                      bool: no bootstrap past this step
  filled   [B, T]                        bool: a real step, not padding after the episode ended
The :class:`EpisodeBuffer` is a circular store of such episodes, sampled uniformly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np
import torch

from marlzoo.envs.spec import EnvSpec


@dataclass
class EpisodeBatch:
    """A batch of episodes; see the module docstring for the fields' shapes."""

    obs: torch.Tensor
    state: torch.Tensor
    avail: torch.Tensor
    alive: torch.Tensor
    actions: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    filled: torch.Tensor

    @classmethod
    def zeros(cls, spec: EnvSpec, batch: int, device: str | torch.device = "cpu") -> "EpisodeBatch":
        T, N = spec.episode_limit, spec.n_agents
        if spec.action_kind == "discrete":
            actions = torch.zeros(batch, T, N, dtype=torch.long, device=device)
        else:
            actions = torch.zeros(batch, T, N, spec.n_actions, dtype=torch.float32, device=device)
        return cls(
            obs=torch.zeros(batch, T + 1, N, *spec.obs_shape, device=device),
            state=torch.zeros(batch, T + 1, spec.state_dim, device=device),
            avail=torch.zeros(batch, T + 1, N, spec.n_actions, dtype=torch.bool, device=device),
            alive=torch.zeros(batch, T + 1, N, dtype=torch.bool, device=device),
            actions=actions,
            reward=torch.zeros(batch, T, device=device),
            terminated=torch.zeros(batch, T, dtype=torch.bool, device=device),
            filled=torch.zeros(batch, T, dtype=torch.bool, device=device),
        )

    @property
    def size(self) -> int:
        return self.reward.shape[0]

    @property
    def max_t(self) -> int:
        return self.reward.shape[1]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def select(self, index: torch.Tensor, max_t: int | None = None) -> "EpisodeBatch":
        """Episodes ``index``, cut to their first ``max_t`` steps (and ``max_t + 1`` observations)."""
        T = self.max_t if max_t is None else max_t
        out = {}
        for name, value in self.tensors().items():
            length = T + 1 if value.shape[1] == self.max_t + 1 else T
            out[name] = value[index, :length]
        return EpisodeBatch(**out)


class EpisodeBuffer:
    """A circular replay buffer of whole episodes, preallocated and written in place; ``on_insert``,
    if given, is called with every batch inserted, after it is stored."""

    def __init__(self, spec: EnvSpec, capacity: int, device: str | torch.device = "cpu",
                 on_insert: Callable[[EpisodeBatch], None] | None = None) -> None:
        self.capacity = capacity
        self.on_insert = on_insert
        self.storage = EpisodeBatch.zeros(spec, capacity, device)
        self._next = 0
        self.size = 0

    def insert(self, batch: EpisodeBatch) -> None:
        """Copy every episode of ``batch`` in, overwriting the oldest once full."""
        n = batch.size
        index = (torch.arange(n) + self._next) % self.capacity
        for name, value in batch.tensors().items():
            getattr(self.storage, name)[index] = value
        self._next = (self._next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        if self.on_insert is not None:
            self.on_insert(batch)

    def can_sample(self, batch_size: int) -> bool:
        return self.size >= batch_size

    def state_dict(self) -> dict[str, Any]:
        """The episodes held (copies of the filled rows only) and the write position, for a checkpoint."""
        return {"size": self.size, "next": self._next,
                "fields": {name: value[: self.size].clone() for name, value in self.storage.tensors().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; ``ValueError`` if it does not fit this buffer."""
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"the saved buffer holds {size} episodes, more than this buffer's capacity {self.capacity}")
        for name, value in self.storage.tensors().items():
            saved = state["fields"][name]
            if saved.shape[1:] != value.shape[1:] or saved.dtype != value.dtype:
                raise ValueError(f"saved buffer field '{name}' is {tuple(saved.shape[1:])} {saved.dtype}, "
                                 f"not {tuple(value.shape[1:])} {value.dtype}")
            value[:size] = saved
        self.size, self._next = size, int(state["next"])

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> EpisodeBatch:
        """``batch_size`` distinct episodes, uniformly, cut to the longest episode among them."""
        index = torch.randperm(self.size, generator=generator)[:batch_size]
        lengths = self.storage.filled[index].sum(dim=1)
        return self.storage.select(index, int(lengths.max()))


def buffer_state(buffer: Any, with_buffer: bool) -> dict[str, Any] | None:
    """A replay store's checkpoint, or None when it is left out or has no ``state_dict`` (a store
    that keeps only the collection it is about to learn from, such as IQL's, needs none)."""
    return buffer.state_dict() if with_buffer and hasattr(buffer, "state_dict") else None


def load_buffer_state(buffer: Any, state: dict[str, Any] | None) -> None:
    if state is not None:
        buffer.load_state_dict(state)


class Discard:
    """A store that keeps nothing, for an algorithm that learns nothing (random play)."""

    size = 0

    def insert(self, batch: EpisodeBatch) -> None:
        pass

    def can_sample(self, batch_size: int) -> bool:
        return False


class _DeviceRows:
    """``rows[i] = array`` into a tensor on an accelerator (one copy per write)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def __setitem__(self, index: Any, value: np.ndarray) -> None:
        self.tensor[index] = torch.as_tensor(value, device=self.tensor.device)


def row_writer(tensor: torch.Tensor) -> Any:
    """Something to write numpy rows into ``tensor`` with ``w[index] = array``, as cheaply as possible.

    On the CPU it is a numpy view of the tensor's memory: runners write every field at every env
    step, and a numpy write costs a fraction of torch indexing. Elsewhere each write is copied over.
    """
    return tensor.numpy() if tensor.device.type == "cpu" else _DeviceRows(tensor)
