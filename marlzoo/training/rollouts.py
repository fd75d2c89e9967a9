"""On-policy experience: fixed-length rollouts over a vector env, and GAE(lambda) on them.

A rollout is ``T`` consecutive steps of every env copy, stored time-major ``[T, B, ...]``. A copy
whose episode ends is reset at once and goes on, so one rollout may hold the end of one episode and
the start of the next. The :class:`RolloutBuffer` fields:

  obs        [T, B, n_agents, obs_dim]   what the agents saw before acting at step t
  state      [T, B, state_dim]
  avail      [T, B, n_agents, n_actions] bool
  alive      [T, B, n_agents]            bool: the agent acted at step t (else its step is padding)
  starts     [T, B]                      bool: obs[t] is the first of an episode (recurrent nets reset)
  actions    [T, B, n_agents] long, or [T, B, n_agents, action_dim] float, as the algorithm stores them
  log_prob   [T, B, n_agents]            log pi(action | history) when acting
  value      [T, B, n_agents]            the critic's value at step t when acting, in return units
  reward     [T, B]                      the team reward of step t
  terminated [T, B], truncated [T, B]    how step t ended its episode, if it did
  next_alive [T, B, n_agents]            the agent is still in the episode after step t
  bootstrap  [T, B, n_agents]            where step t was truncated: the value of the final state
  last_value [B, n_agents]               the value after the rollout's last step
  hidden0                                the algorithm's recurrent state at the rollout's first step

A :class:`~marlzoo.algorithm.RolloutAlgorithm` learns from it; the :class:`RolloutRunner` fills it
with one batched ``rollout_step`` call per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from marlzoo.training.buffers import row_writer
from marlzoo.envs.spec import EnvSpec
from marlzoo.envs.batched import BatchedEnv

if TYPE_CHECKING:
    from marlzoo.algorithm import RolloutAlgorithm


@dataclass
class PolicyStep:
    """What a rollout policy returns for one step of every copy.

    ``env_actions`` go to the env (``[B, n]`` long, or ``[B, n, D]`` float inside the bounds);
    ``actions`` are what the buffer keeps for the learner (for example the pre-squash Gaussian
    sample); ``log_prob`` and ``value`` are ``[B, n]``.
    """

    env_actions: torch.Tensor
    actions: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    hidden: Any


def gae(
    reward: torch.Tensor,
    value: torch.Tensor,
    last_value: torch.Tensor,
    next_alive: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, ``[T, B, n]`` each.

    Per agent, the value that follows step t is:
      0                      if step t terminated the episode, or the agent left after it;
      ``bootstrap[t]``       if step t truncated the episode (the value of its final state);
      ``value[t + 1]``       otherwise (``last_value`` after the rollout's last step).
    ``delta_t = r_t + gamma * next_value_t - value_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``,
    with the sum cut wherever the episode ended or the agent left. Returns are ``A_t + value_t``.
    """
    T = reward.shape[0]
    following = torch.cat([value[1:], last_value.unsqueeze(0)], dim=0)
    ended = (terminated | truncated).unsqueeze(-1)
    goes_on = next_alive & ~ended
    next_value = torch.where(goes_on, following, torch.zeros_like(following))
    next_value = torch.where(truncated.unsqueeze(-1) & next_alive, bootstrap, next_value)
    deltas = reward.unsqueeze(-1) + gamma * next_value - value
    carry = gamma * lam * goes_on.to(value.dtype)
    advantages = torch.empty_like(value)
    running = torch.zeros_like(value[0])
    for t in range(T - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages, advantages + value


class RolloutBuffer:
    """Preallocated ``[T, B, ...]`` storage of one rollout (see the module docstring).

    ``B`` is the number of env copies; the storage is allocated when the runner first fills it.
    """

    def __init__(self, spec: EnvSpec, length: int, device: str | torch.device = "cpu") -> None:
        self.spec = spec
        self.length = length
        self.device = torch.device(device)
        self.n_envs = 0
        self.hidden0: Any = None

    def allocate(self, n_envs: int) -> None:
        """Storage for ``n_envs`` copies (a no-op if it already has that size)."""
        if n_envs == self.n_envs:
            return
        T, B, N, spec, dev = self.length, n_envs, self.spec.n_agents, self.spec, self.device
        self.n_envs = n_envs
        self.obs = torch.zeros(T, B, N, *spec.obs_shape, device=dev)
        self.state = torch.zeros(T, B, spec.state_dim, device=dev)
        self.avail = torch.zeros(T, B, N, spec.n_actions, dtype=torch.bool, device=dev)
        self.alive = torch.zeros(T, B, N, dtype=torch.bool, device=dev)
        self.starts = torch.zeros(T, B, dtype=torch.bool, device=dev)
        if spec.action_kind == "discrete":
            self.actions = torch.zeros(T, B, N, dtype=torch.long, device=dev)
        else:
            self.actions = torch.zeros(T, B, N, spec.n_actions, device=dev)
        self.log_prob = torch.zeros(T, B, N, device=dev)
        self.value = torch.zeros(T, B, N, device=dev)
        self.reward = torch.zeros(T, B, device=dev)
        self.terminated = torch.zeros(T, B, dtype=torch.bool, device=dev)
        self.truncated = torch.zeros(T, B, dtype=torch.bool, device=dev)
        self.next_alive = torch.zeros(T, B, N, dtype=torch.bool, device=dev)
        self.bootstrap = torch.zeros(T, B, N, device=dev)
        self.last_value = torch.zeros(B, N, device=dev)

    def advantages(self, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`gae` over this rollout: ``(advantages, returns)``, ``[T, B, n]`` each."""
        return gae(self.reward, self.value, self.last_value, self.next_alive, self.terminated,
                   self.truncated, self.bootstrap, gamma, lam)


def clone_hidden(hidden: Any) -> Any:
    """A copy of a recurrent state made of tensors, tuples of them, and Nones."""
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.clone()
    return type(hidden)(clone_hidden(h) for h in hidden)


def reset_hidden(hidden: Any, copies: torch.Tensor) -> Any:
    """``hidden`` with the rows of env ``copies`` (a bool ``[B]`` mask) set to zero, in place."""
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        hidden[copies] = 0.0
        return hidden
    return type(hidden)(reset_hidden(h, copies) for h in hidden)


class RolloutRunner:
    """Fills a :class:`RolloutBuffer` from ``venv``, resetting each copy as soon as its episode ends.

    Copies are seeded ``seed, seed + 1, ...`` at their first reset and continue their own random
    streams after. Episodes run across rollouts: the runner keeps each copy's observation, partial
    return and recurrent state from one rollout to the next.
    """

    def __init__(self, venv: BatchedEnv, seed: int) -> None:
        self.venv = venv
        self.seed = seed
        self._started = False
        self._obs = torch.from_numpy(venv.obs)
        self._state = torch.from_numpy(venv.state)
        self._avail = torch.from_numpy(venv.avail)
        self._returns = np.zeros(venv.n, dtype=np.float64)
        self._lengths = np.zeros(venv.n, dtype=np.int64)
        self._starts = np.ones(venv.n, dtype=bool)
        self._hidden: Any = None
        self._all = np.ones(venv.n, dtype=bool)

    def state_dict(self) -> dict[str, Any]:
        """Where every copy is in its episode: its env state (replayed on load, see
        :meth:`VectorEnv.state_dict`), its partial return and length, and the recurrent state."""
        return {"started": self._started, "returns": torch.from_numpy(self._returns.copy()),
                "lengths": torch.from_numpy(self._lengths.copy()), "starts": torch.from_numpy(self._starts.copy()),
                "hidden": clone_hidden(self._hidden), "venv": self.venv.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._started = bool(state["started"])
        self._returns[:] = state["returns"].numpy()
        self._lengths[:] = state["lengths"].numpy()
        self._starts[:] = state["starts"].numpy()
        self._hidden = clone_hidden(state["hidden"])
        self.venv.load_state_dict(state["venv"])

    @torch.no_grad()
    def collect(self, algo: "RolloutAlgorithm", buffer: RolloutBuffer, t_env: int) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``buffer`` with ``buffer.length`` steps of every copy.

        Returns the returns and lengths of the episodes that ended during the rollout.
        """
        venv, n = self.venv, self.venv.n
        if not self._started:
            venv.reset([self.seed + i for i in range(n)])
            self._hidden = algo.init_hidden(n)
            self._started = True
        buffer.allocate(n)
        buffer.hidden0 = clone_hidden(self._hidden)
        buffer.bootstrap.zero_()
        rec = {name: row_writer(getattr(buffer, name)) for name in
               ("obs", "state", "avail", "alive", "starts", "reward", "terminated", "truncated", "next_alive")}
        finished_returns: list[float] = []
        finished_lengths: list[int] = []
        for t in range(buffer.length):
            rec["obs"][t] = venv.obs
            rec["state"][t] = venv.state
            rec["avail"][t] = venv.avail
            rec["alive"][t] = venv.alive
            rec["starts"][t] = self._starts
            step = algo.rollout_step(self._obs, self._state, self._avail, self._hidden, t_env)
            venv.step(step.env_actions.numpy(), self._all)
            self._hidden = step.hidden
            buffer.actions[t] = step.actions
            buffer.log_prob[t] = step.log_prob
            buffer.value[t] = step.value
            rec["reward"][t] = venv.reward
            rec["terminated"][t] = venv.terminated
            rec["truncated"][t] = venv.truncated
            rec["next_alive"][t] = venv.alive
            self._returns += venv.reward
            self._lengths += 1
            ended = venv.terminated | venv.truncated
            if venv.truncated.any():  # the arrays still hold the final state: value it before reset
                final = algo.value(self._obs, self._state, self._hidden)
                truncated = torch.from_numpy(venv.truncated).unsqueeze(-1)
                buffer.bootstrap[t] = torch.where(truncated, final, buffer.bootstrap[t])
            if ended.any():
                finished_returns.extend(self._returns[ended].tolist())
                finished_lengths.extend(self._lengths[ended].tolist())
                venv.reset_where(ended)
                self._returns[ended] = 0.0
                self._lengths[ended] = 0
                self._hidden = reset_hidden(self._hidden, torch.from_numpy(ended))
                self._starts[:] = ended
            else:
                self._starts.fill(False)
        buffer.last_value.copy_(algo.value(self._obs, self._state, self._hidden))
        return np.asarray(finished_returns, dtype=np.float64), np.asarray(finished_lengths, dtype=np.int64)
